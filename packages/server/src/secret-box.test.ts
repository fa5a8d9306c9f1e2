import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SecretBox } from './secret-box.js'

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32))

  it('seals with a fresh IV each time and opens what it sealed', () => {
    const a = box.seal('pool password')
    const b = box.seal('pool password')
    expect(a).not.toBe(b)
    expect(a).not.toContain('pool password')
    expect(box.open(a)).toBe('pool password')
  })

  it('refuses a tampered secret and a secret sealed under another key', () => {
    const sealed = box.seal('secret')
    const bytes = Buffer.from(sealed.slice(3), 'base64')
    bytes[bytes.length - 1]! ^= 1
    expect(() => box.open(`v1:${bytes.toString('base64')}`)).toThrow(/does not open with the server key/)
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(/does not open/)
    expect(() => box.open('plain text')).toThrow(/unknown sealed secret format/)
  })
})
