import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SecretBox } from './secret-box.js'
import { sealUnbound } from './testing/legacy-seal.js'

const pool1 = { table: 'pools', row: 'pool-1', column: 'password_sealed' }
const pool2 = { table: 'pools', row: 'pool-2', column: 'password_sealed' }

describe('SecretBox', () => {
  const key = randomBytes(32)
  const box = new SecretBox(key)

  it('seals with a fresh IV each time and opens what it sealed', () => {
    const a = box.seal('pool password', pool1)
    const b = box.seal('pool password', pool1)
    expect(a).not.toBe(b)
    expect(a).not.toContain('pool password')
    expect(box.open(a, pool1)).toBe('pool password')
  })

  it('refuses a tampered secret and a secret sealed under another key', () => {
    const sealed = box.seal('secret', pool1)
    const bytes = Buffer.from(sealed.slice(3), 'base64')
    bytes[bytes.length - 1]! ^= 1
    expect(() => box.open(`v2:${bytes.toString('base64')}`, pool1)).toThrow(
      /pools 'pool-1' \(password_sealed\) does not open with the server key/,
    )
    expect(() => new SecretBox(randomBytes(32)).open(sealed, pool1)).toThrow(/does not open/)
    expect(() => box.open('plain text', pool1)).toThrow(/not in the sealed format/)
  })

  it('does not open a sealed value copied to another row, column or table', () => {
    const sealed = box.seal('root password of pool 1', pool1)
    for (const elsewhere of [
      pool2,
      { ...pool1, column: 'username' },
      { table: 'repositories', row: 'pool-1', column: 'password_sealed' },
    ]) {
      expect(() => box.open(sealed, elsewhere)).toThrow(
        expect.objectContaining({
          code: 'SECRET_UNREADABLE',
          message: expect.stringContaining('another row'),
        }),
      )
    }
  })

  it('opens an old unbound value only through openUnbound (the migration)', () => {
    const old = sealUnbound(key, 'old password')
    expect(() => box.open(old, pool1)).toThrow(/not in the sealed format/)
    expect(box.openUnbound(old, pool1)).toBe('old password')
    expect(() => new SecretBox(randomBytes(32)).openUnbound(old, pool1)).toThrow(/does not open/)
  })
})
