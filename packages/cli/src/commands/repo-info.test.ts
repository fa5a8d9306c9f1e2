import { describe, expect, it } from 'vitest'
import { describeStore } from './repo-info.js'

const base = { conditionalCreate: true, listAfterWriteConsistent: true }
const fs = { hardLinks: true, exclusiveCreate: true, caseSensitive: true, remote: false, type: 'ext4' }

describe('repo info: the store line', () => {
  it.each([
    [
      { ...base, createMode: 'link', fileSystem: { ...fs, timestampResolutionMs: 0.001, clockSkewMs: 0 } },
      'create-once by hard link; ext4, times to 1 µs',
    ],
    [
      {
        ...base,
        createMode: 'exclusive',
        fileSystem: {
          ...fs,
          type: 'cifs',
          remote: true,
          hardLinks: false,
          caseSensitive: false,
          timestampResolutionMs: 1000,
          clockSkewMs: -2500,
        },
      },
      'create-once by O_EXCL claim (no hard links); cifs, remote, case-insensitive, times to 1 s, server clock 2.5 s behind',
    ],
    [base, 'create-once by the server (conditional put)'],
    [{ ...base, conditionalCreate: false }, 'create-once NOT atomic (checked, then written)'],
  ] as const)('%j', (store, line) => {
    expect(describeStore(store)).toBe(line)
  })
})
