// The envelope that wraps every stored object (chunk, disk index, manifest): a 12-byte header, then the
// body. Pure layout code: compression, sealing and checksums are applied by repository/object-codec.ts.
//
//   0  u32 BE  magic 'STEN'          6  u8  flags (1 = zstd, 2 = AES-256-GCM)
//   4  u8      version (1)           7  u8  reserved, 0
//   5  u8      kind (1 chunk, 2 index, 3 manifest, 4 point index segment)
//   8  u32 BE  plaintext length (after decompression)
//  12  body: encrypted → nonce(12) ‖ ciphertext ‖ tag(16); plain → payload [‖ SHA-256(plaintext) if not a chunk]
import { RepositoryError } from '../errors.js'
import {
  ENVELOPE_HEADER_LENGTH,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  FLAG_COMPRESSED,
  FLAG_ENCRYPTED,
  KIND_CHUNK,
  KIND_POINT_SEGMENT,
} from './constants.js'

export interface EnvelopeHeader {
  readonly kind: number
  readonly flags: number
  readonly plainLength: number
}

export interface ParsedEnvelope extends EnvelopeHeader {
  /** The 12 header bytes, authenticated as associated data in encrypted repositories. */
  readonly header: Uint8Array
  readonly body: Uint8Array
}

export function encodeEnvelopeHeader(h: EnvelopeHeader): Uint8Array {
  const out = new Uint8Array(ENVELOPE_HEADER_LENGTH)
  const view = new DataView(out.buffer)
  view.setUint32(0, ENVELOPE_MAGIC)
  out[4] = ENVELOPE_VERSION
  out[5] = h.kind
  out[6] = h.flags
  view.setUint32(8, h.plainLength)
  return out
}

/** Splits an envelope; `what` names the object for errors ("chunk 3fa2… in repository 'nas1'"). */
export function parseEnvelope(bytes: Uint8Array, expectedKind: number, what: string): ParsedEnvelope {
  const corrupt = (why: string): RepositoryError =>
    new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: ${why}`)
  if (bytes.length < ENVELOPE_HEADER_LENGTH) throw corrupt(`${bytes.length} bytes, shorter than a header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) !== ENVELOPE_MAGIC) throw corrupt('bad magic')
  if (bytes[4] !== ENVELOPE_VERSION) {
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what} has envelope version ${bytes[4]}`)
  }
  const kind = bytes[5]!
  if (kind !== expectedKind || kind < KIND_CHUNK || kind > KIND_POINT_SEGMENT) throw corrupt(`kind ${kind}`)
  const flags = bytes[6]!
  if ((flags & ~(FLAG_COMPRESSED | FLAG_ENCRYPTED)) !== 0 || bytes[7] !== 0) throw corrupt(`flags ${flags}`)
  return {
    kind,
    flags,
    plainLength: view.getUint32(8),
    header: bytes.subarray(0, ENVELOPE_HEADER_LENGTH),
    body: bytes.subarray(ENVELOPE_HEADER_LENGTH),
  }
}
