// Secrets at rest (pool passwords, S3 keys, repository passphrases, TOTP seeds) are sealed with
// AES-256-GCM under the server key, so that a copy of the database alone reveals none of them.
// Sealed text: 'v1:' + base64(iv | tag | ciphertext). The key never leaves this object.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { StrataError } from '@strata/core'

const VERSION = 'v1:'

export class SecretBox {
  readonly #key: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new StrataError('INVALID_CONFIG', 'the server key must be 32 bytes')
    this.#key = key
  }

  seal(plain: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
  }

  open(sealed: string): string {
    if (!sealed.startsWith(VERSION))
      throw new StrataError('SECRET_UNREADABLE', 'unknown sealed secret format')
    const bytes = Buffer.from(sealed.slice(VERSION.length), 'base64')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, 12))
      decipher.setAuthTag(bytes.subarray(12, 28))
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
    } catch (cause) {
      // Most often a server started with another key than the one that sealed the database.
      throw new StrataError('SECRET_UNREADABLE', 'a stored secret does not open with the server key', {
        cause,
      })
    }
  }

  sealOptional(plain: string | undefined | null): string | null {
    return plain === undefined || plain === null || plain === '' ? null : this.seal(plain)
  }
}
