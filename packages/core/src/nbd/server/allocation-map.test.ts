import { describe, expect, it } from 'vitest'
import { parseFilefrag } from './allocation-map.js'

describe('parseFilefrag', () => {
  it('reads extents, with and without the expected column, and unwritten flags', () => {
    const text = [
      'Filesystem type is: ef53',
      'File size of /x is 67108864 (16384 blocks of 4096 bytes)',
      ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
      '   0:        0..     511:    5965824..   5966335:    512:            ',
      '   1:     1024..    1535:    6000000..   6000511:    512:    5966336: unwritten',
      '   2:     2048..    2048:    7000000..   7000000:      1:    6000512: last,eof',
      '/x: 3 extents found',
    ].join('\n')
    expect(parseFilefrag(text)).toEqual([
      { start: 0, end: 512 * 4096, unwritten: false },
      { start: 1024 * 4096, end: 1536 * 4096, unwritten: true },
      { start: 2048 * 4096, end: 2049 * 4096, unwritten: false },
    ])
  })

  it('refuses output it does not understand', () => {
    expect(parseFilefrag('FIEMAP failed')).toBeUndefined()
    const inconsistent = 'File size of /x is 8192 (2 blocks of 4096 bytes)\n   0:  0..  1:  5..  6:  7:\n'
    expect(parseFilefrag(inconsistent)).toBeUndefined()
  })
})
