import { describe, expect, it } from 'vitest'
import { base32, totpCode, totpStep, unbase32, verifyTotp } from './totp.js'

// RFC 6238 appendix B, SHA-1 column, with the RFC's 20-byte ASCII secret (8 digits there; the last 6 here).
const RFC_SECRET = base32(Buffer.from('12345678901234567890'))

describe('totp', () => {
  it('matches the RFC 6238 test vectors', () => {
    expect(totpCode(RFC_SECRET, 59_000)).toBe('287082')
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).toBe('081804')
    expect(totpCode(RFC_SECRET, 2_000_000_000_000)).toBe('279037')
  })

  it('round-trips base32', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255])
    expect(unbase32(base32(bytes)).equals(bytes)).toBe(true)
  })

  it('accepts the neighbouring steps and nothing further', () => {
    const now = 1_700_000_000_000
    expect(verifyTotp(RFC_SECRET, totpCode(RFC_SECRET, now - 30_000), now)).toBe(true)
    expect(verifyTotp(RFC_SECRET, totpCode(RFC_SECRET, now + 30_000), now)).toBe(true)
    expect(verifyTotp(RFC_SECRET, totpCode(RFC_SECRET, now - 90_000), now)).toBe(false)
    expect(verifyTotp(RFC_SECRET, 'abcdef', now)).toBe(false)
  })

  it('names the time step a code belongs to, so that a step can be used once', () => {
    const now = 1_700_000_000_000
    const step = Math.floor(now / 30_000)
    expect(totpStep(RFC_SECRET, totpCode(RFC_SECRET, now), now)).toBe(step)
    expect(totpStep(RFC_SECRET, totpCode(RFC_SECRET, now - 30_000), now)).toBe(step - 1)
    expect(totpStep(RFC_SECRET, totpCode(RFC_SECRET, now + 30_000), now)).toBe(step + 1)
    expect(totpStep(RFC_SECRET, totpCode(RFC_SECRET, now + 60_000), now)).toBeUndefined()
  })
})
