// AES-256-GCM sealing of one object with a random 96-bit nonce. Random nonces are safe up to about 2^32
// objects per key (8 PiB of 2 MiB chunks); the associated data binds a sealed body to its header and id.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { GCM_NONCE_LENGTH, GCM_TAG_LENGTH } from '../format/constants.js'

/** nonce ‖ ciphertext ‖ tag, as parts so that callers can write them without another copy. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array[] {
  const nonce = randomBytes(GCM_NONCE_LENGTH)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  const last = cipher.final()
  return last.length === 0 ? [nonce, body, cipher.getAuthTag()] : [nonce, body, last, cipher.getAuthTag()]
}

/** Cipher output is taken in pieces this large: they come from reused heap memory, not fresh pages. */
const SEAL_PIECE = 64 * 1024

/**
 * seal() written into `out` from `at` (room for nonce, plaintext and tag); returns where it ended.
 * Node's cipher returns a new buffer per call: one the size of a 2 MiB chunk costs page faults, so
 * the plaintext goes through in small pieces, each copied into place.
 */
export function sealInto(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  out: Uint8Array,
  at: number,
): number {
  const nonce = randomBytes(GCM_NONCE_LENGTH)
  out.set(nonce, at)
  at += nonce.length
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(aad)
  for (let from = 0; from < plaintext.length; from += SEAL_PIECE) {
    const piece = cipher.update(plaintext.subarray(from, from + SEAL_PIECE))
    out.set(piece, at)
    at += piece.length
  }
  const last = cipher.final()
  out.set(last, at)
  at += last.length
  const tag = cipher.getAuthTag()
  out.set(tag, at)
  return at + tag.length
}

/** The plaintext, or undefined when authentication fails (wrong key, tampering, corruption). */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < GCM_NONCE_LENGTH + GCM_TAG_LENGTH) return undefined
  const nonce = sealed.subarray(0, GCM_NONCE_LENGTH)
  const tag = sealed.subarray(sealed.length - GCM_TAG_LENGTH)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce)
  decipher.setAAD(aad)
  decipher.setAuthTag(tag)
  const body = decipher.update(sealed.subarray(GCM_NONCE_LENGTH, sealed.length - GCM_TAG_LENGTH))
  try {
    const last = decipher.final()
    return last.length === 0 ? body : Buffer.concat([body, last])
  } catch {
    return undefined
  }
}

/**
 * open() written into `out` from `at` (room for the ciphertext's length); returns where it ended, or
 * undefined when authentication fails. The plaintext is in `out` before it is authenticated: on
 * undefined, its bytes there must not be used.
 */
export function openInto(
  key: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  out: Uint8Array,
  at: number,
): number | undefined {
  if (sealed.length < GCM_NONCE_LENGTH + GCM_TAG_LENGTH) return undefined
  const end = sealed.length - GCM_TAG_LENGTH
  if (at + end - GCM_NONCE_LENGTH > out.length) {
    throw new RangeError(`${end - GCM_NONCE_LENGTH} bytes of plaintext do not fit in ${out.length - at}`)
  }
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, GCM_NONCE_LENGTH))
  decipher.setAAD(aad)
  decipher.setAuthTag(sealed.subarray(end))
  for (let from = GCM_NONCE_LENGTH; from < end; from += SEAL_PIECE) {
    const piece = decipher.update(sealed.subarray(from, Math.min(end, from + SEAL_PIECE)))
    out.set(piece, at)
    at += piece.length
  }
  try {
    const last = decipher.final()
    out.set(last, at)
    return at + last.length
  } catch {
    return undefined
  }
}
