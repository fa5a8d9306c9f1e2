// A key slot (object 'keys/<slot id>'): the master key wrapped (AES-256-GCM) under a key derived from a
// passphrase or key file with scrypt. Several slots may wrap the same master key; changing a passphrase
// adds a slot and removes the old one without touching data.
import { GCM_NONCE_LENGTH, GCM_TAG_LENGTH, MASTER_KEY_LENGTH } from './constants.js'
import { JsonReader, encodeJson } from './json.js'
import { RepositoryError } from '../errors.js'

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number
  readonly r: number
  readonly p: number
  readonly salt: Uint8Array
}

export interface KeySlot {
  readonly id: string
  readonly label: string
  readonly kdf: ScryptParams
  /** nonce(12) ‖ ciphertext of the 32-byte master key ‖ tag(16). */
  readonly wrapped: Uint8Array
  readonly created: string
}

export const WRAPPED_KEY_LENGTH = GCM_NONCE_LENGTH + MASTER_KEY_LENGTH + GCM_TAG_LENGTH

export function encodeKeySlot(slot: KeySlot): Uint8Array {
  const { N, r, p, salt } = slot.kdf
  return encodeJson({
    version: 1,
    id: slot.id,
    label: slot.label,
    kdf: { name: 'scrypt', N, r, p, salt: Buffer.from(salt).toString('base64') },
    wrapped: Buffer.from(slot.wrapped).toString('base64'),
    created: slot.created,
  })
}

export function decodeKeySlot(bytes: Uint8Array, what: string): KeySlot {
  const r = JsonReader.parse(bytes, what)
  if (r.integer('version') !== 1) throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown version`)
  const kdf = r.object('kdf')
  if (kdf.string('name') !== 'scrypt')
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown KDF`)
  const N = kdf.integer('N', 2, 2 ** 24)
  if ((N & (N - 1)) !== 0)
    throw new RepositoryError('CORRUPT_OBJECT', `${what}: scrypt N is not a power of two`)
  return {
    id: r.string('id'),
    label: r.string('label'),
    kdf: { N, r: kdf.integer('r', 1, 64), p: kdf.integer('p', 1, 16), salt: kdf.bytes('salt') },
    wrapped: r.bytes('wrapped', WRAPPED_KEY_LENGTH),
    created: r.string('created'),
  }
}
