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

/**
 * What a key slot may ask of scrypt. A slot is an input like any other (anyone who can write to the store
 * can plant one): beyond these, deriving would allocate or compute without bound. 128·N·r bytes of
 * memory (1 GiB = N 2^20 at r 8); N·r·p is the work (2^24 ≈ 6 s on the reference machine).
 */
export const SCRYPT_LIMITS = { maxN: 2 ** 22, maxR: 32, maxP: 16, maxMemory: 2 ** 30, maxWork: 2 ** 24 }

/** Refuses scrypt parameters out of SCRYPT_LIMITS (before anything is allocated): KDF_OUT_OF_BOUNDS. */
export function checkScryptParams(params: { N: number; r: number; p: number }, what: string): void {
  const { N, r, p } = params
  const L = SCRYPT_LIMITS
  const why =
    !Number.isSafeInteger(N) || N < 2 || (N & (N - 1)) !== 0
      ? 'N is not a power of two'
      : !Number.isSafeInteger(r) || r < 1 || !Number.isSafeInteger(p) || p < 1
        ? 'r and p must be positive integers'
        : N > L.maxN
          ? `N ${N} is above ${L.maxN}`
          : r > L.maxR || p > L.maxP
            ? `r ${r} or p ${p} is above ${L.maxR} or ${L.maxP}`
            : 128 * N * r > L.maxMemory
              ? `it needs ${128 * N * r} bytes of memory, above ${L.maxMemory}`
              : N * r * p > L.maxWork
                ? `N·r·p = ${N * r * p} is above ${L.maxWork}`
                : undefined
  if (why !== undefined) {
    throw new RepositoryError('KDF_OUT_OF_BOUNDS', `${what}: scrypt parameters refused: ${why}`, {
      details: { N, r, p },
    })
  }
}

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
  const cost = { N: kdf.integer('N', 2), r: kdf.integer('r', 1), p: kdf.integer('p', 1) }
  checkScryptParams(cost, what)
  return {
    id: r.string('id'),
    label: r.string('label'),
    kdf: { ...cost, salt: kdf.bytes('salt') },
    wrapped: r.bytes('wrapped', WRAPPED_KEY_LENGTH),
    created: r.string('created'),
  }
}
