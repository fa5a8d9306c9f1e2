import { describe, expect, it } from 'vitest'
import { parseChangedList } from './repo-changed-list.js'

describe('parseChangedList', () => {
  it('accepts indexes, ranges and byte ranges, merged and sorted', () => {
    expect(parseChangedList('7, 2-4 1048575+2', 1 << 20, 10)).toEqual([0, 1, 2, 3, 4, 7])
    expect(parseChangedList('', 1 << 20, 10)).toEqual([])
  })

  it('rejects garbage and indexes outside the image', () => {
    expect(() => parseChangedList('x', 1 << 20, 10)).toThrow(/not a chunk index/)
    expect(() => parseChangedList('10', 1 << 20, 10)).toThrow(/outside/)
    expect(() => parseChangedList('5-3', 1 << 20, 10)).toThrow(/outside/)
  })
})
