// Secrets at rest (pool passwords, S3 keys, repository passphrases, TOTP seeds) are sealed with
// AES-256-GCM under the server key, so that a copy of the database alone reveals none of them. Each is
// bound to where it is stored (table, row id, column) as GCM's associated data: a sealed value copied
// into another row or column (by someone who can write the database but has not the key) does not open.
// Sealed text: 'v2:' + base64(iv | tag | ciphertext). The key never leaves this object.
// 'v1:' values (unbound, from before) open only through openUnbound, which the re-sealing migration uses.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { StrataError } from '@strata/core'

const VERSION = 'v2:'
const UNBOUND = 'v1:'

/** Where a sealed value lives: its table, its row's id and its column. */
export interface SealedField {
  readonly table: string
  readonly row: string
  readonly column: string
}

export class SecretUnreadableError extends StrataError {
  constructor(message: string, cause?: unknown) {
    super('SECRET_UNREADABLE', message, { cause })
  }
}

const describe = (f: SealedField): string => `the secret in ${f.table} '${f.row}' (${f.column})`
const associated = (f: SealedField): Buffer =>
  Buffer.from(JSON.stringify(['strata-sealed-v2', f.table, f.row, f.column]), 'utf8')

export class SecretBox {
  readonly #key: Buffer

  constructor(key: Buffer) {
    if (key.length !== 32) throw new StrataError('INVALID_CONFIG', 'the server key must be 32 bytes')
    this.#key = key
  }

  seal(plain: string, field: SealedField): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(associated(field))
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
  }

  open(sealed: string, field: SealedField): string {
    if (!sealed.startsWith(VERSION))
      throw new SecretUnreadableError(`${describe(field)} is not in the sealed format (${VERSION})`)
    try {
      return this.#decrypt(sealed.slice(VERSION.length), associated(field))
    } catch (cause) {
      throw new SecretUnreadableError(
        `${describe(field)} does not open with the server key: another key sealed it, or it was copied from another row`,
        cause,
      )
    }
  }

  /** A value sealed before secrets were bound to their place (a migration re-seals them). */
  openUnbound(sealed: string, field: SealedField): string {
    if (!sealed.startsWith(UNBOUND))
      throw new SecretUnreadableError(`${describe(field)} is not in the old sealed format (${UNBOUND})`)
    try {
      return this.#decrypt(sealed.slice(UNBOUND.length))
    } catch (cause) {
      // Most often a server started with another key than the one that sealed the database.
      throw new SecretUnreadableError(`${describe(field)} does not open with the server key`, cause)
    }
  }

  sealOptional(plain: string | undefined | null, field: SealedField): string | null {
    return plain === undefined || plain === null || plain === '' ? null : this.seal(plain, field)
  }

  #decrypt(base64: string, aad?: Buffer): string {
    const bytes = Buffer.from(base64, 'base64')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, 12))
    if (aad !== undefined) decipher.setAAD(aad)
    decipher.setAuthTag(bytes.subarray(12, 28))
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
  }
}
