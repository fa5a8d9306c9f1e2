import { describe, expect, it } from 'vitest'
import { isZero } from './bytes.js'

describe('isZero', () => {
  it('sees a single non-zero byte anywhere, also beyond the zero buffer', () => {
    const big = new Uint8Array(9 * 1024 * 1024)
    expect(isZero(big)).toBe(true)
    for (const at of [0, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, big.length - 1]) {
      big[at] = 1
      expect(isZero(big)).toBe(false)
      big[at] = 0
    }
    expect(isZero(new Uint8Array(0))).toBe(true)
  })
})
