// XO remote encryption (xo-backups.md §2.7): encryption.json names the algorithm in clear; every other
// file is `iv (12) | ciphertext | tag (16)`, one AEAD over the whole file, the key being the 32 bytes
// of the admin's 32-character key as given (XO derives nothing). metadata.json, encrypted, proves the
// key. Whole-file AEAD means no ranged read of an encrypted file: it is read whole, or streamed with
// its tag read first and checked at the end.
import { createDecipheriv, type DecipherGCM, type DecipherChaCha20Poly1305 } from 'node:crypto'
import { XoError } from './errors.js'

export type XoAlgorithm = 'none' | 'chacha20-poly1305' | 'aes-256-gcm'

export const IV_LENGTH = 12
export const TAG_LENGTH = 16
export const KEY_LENGTH = 32
/** Bytes an encrypted file has beyond its plaintext. */
export const ENCRYPTION_OVERHEAD = IV_LENGTH + TAG_LENGTH

const ALGORITHMS: readonly XoAlgorithm[] = ['none', 'chacha20-poly1305', 'aes-256-gcm']

/** encryption.json: `{"algorithm": …}`; a remote without one is not encrypted. */
export function parseEncryptionJson(bytes: Uint8Array | undefined, where: string): XoAlgorithm {
  if (bytes === undefined) return 'none'
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (error) {
    throw new XoError('XO_METADATA_INVALID', `${where}: encryption.json is not JSON`, { cause: error })
  }
  const algorithm = (value as { algorithm?: unknown } | null)?.algorithm
  if (typeof algorithm !== 'string' || !ALGORITHMS.includes(algorithm as XoAlgorithm)) {
    throw new XoError(
      'XO_ENCRYPTION_UNSUPPORTED',
      `${where}: encryption.json names the algorithm ${JSON.stringify(algorithm)}, not one of ${ALGORITHMS.join(', ')}`,
    )
  }
  return algorithm as XoAlgorithm
}

/** The key as XO uses it: the bytes of the string the admin typed, which must be exactly 32. */
export function checkKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_LENGTH) {
    throw new XoError(
      'XO_KEY_INVALID',
      `an XO remote key is ${KEY_LENGTH} bytes (32 characters); the key given has ${key.length}`,
    )
  }
  return key
}

export type Decipher = DecipherGCM | DecipherChaCha20Poly1305

export function decipher(algorithm: Exclude<XoAlgorithm, 'none'>, key: Uint8Array, iv: Uint8Array): Decipher {
  const options = { authTagLength: TAG_LENGTH }
  return algorithm === 'aes-256-gcm'
    ? createDecipheriv('aes-256-gcm', key, iv, options)
    : createDecipheriv('chacha20-poly1305', key, iv, options)
}

/** The plaintext of one encrypted file; XO_AUTH_FAILED when it does not authenticate. */
export function decryptFile(
  algorithm: Exclude<XoAlgorithm, 'none'>,
  key: Uint8Array,
  bytes: Uint8Array,
  what: string,
): Uint8Array {
  if (bytes.length < ENCRYPTION_OVERHEAD) {
    throw new XoError('XO_AUTH_FAILED', `${what}: ${bytes.length} bytes cannot be an encrypted file`)
  }
  const d = decipher(algorithm, key, bytes.subarray(0, IV_LENGTH))
  d.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH))
  try {
    const head = d.update(bytes.subarray(IV_LENGTH, bytes.length - TAG_LENGTH))
    const tail = d.final()
    return tail.length === 0 ? head : Buffer.concat([head, tail])
  } catch (error) {
    throw authFailed(what, error)
  }
}

export function authFailed(what: string, cause?: unknown): XoError {
  return new XoError(
    'XO_AUTH_FAILED',
    `${what} failed authentication: it was altered or truncated, or written with another key`,
    { cause },
  )
}
