// Turns plaintext into a stored object and back: zstd (kept only when it saves space), AES-256-GCM in
// encrypted repositories, and an integrity check on every read. The envelope layout is format/envelope.ts.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type * as ZstdBinding from 'zstd-napi/binding.js'
import { compress } from 'zstd-napi'
import { RepositoryError } from './errors.js'
import { open, openInto, seal, sealInto } from './crypto/seal.js'
import {
  ENVELOPE_HEADER_LENGTH,
  FLAG_COMPRESSED,
  FLAG_ENCRYPTED,
  GCM_NONCE_LENGTH,
  GCM_TAG_LENGTH,
  KIND_CHUNK,
  PLAIN_CHECKSUM_LENGTH,
} from './format/constants.js'
import { encodeEnvelopeHeader, parseEnvelope } from './format/envelope.js'
import { maxPlainLength } from './format/limits.js'

export { maxPlainLength }

/** zstd's own API (compress into a buffer we give), which the high-level one hides behind new buffers. */
const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding

export interface CodecOptions {
  /** Data key of an encrypted repository; undefined in a plain one. */
  readonly dataKey: Uint8Array | undefined
  /** zstd level; 0 stores raw. */
  readonly level: number
}

/**
 * `binding` is authenticated with the object: the chunk id for chunks, the object key for indexes and
 * manifests, so that a sealed object moved under another name does not open.
 */
export function encodeObject(
  kind: number,
  plain: Uint8Array,
  binding: Uint8Array,
  options: CodecOptions,
): Buffer {
  return Buffer.concat(encodeObjectParts(kind, plain, binding, options))
}

/** The most bytes encodeObject can make of `plainLength` bytes (zstd is kept only when smaller). */
export function maxEncodedLength(plainLength: number): number {
  return (
    ENVELOPE_HEADER_LENGTH + plainLength + Math.max(GCM_NONCE_LENGTH + GCM_TAG_LENGTH, PLAIN_CHECKSUM_LENGTH)
  )
}

/** encodeObject as the parts to write one after the other (no copy into one buffer). */
export function encodeObjectParts(
  kind: number,
  plain: Uint8Array,
  binding: Uint8Array,
  options: CodecOptions,
): Uint8Array[] {
  let payload = plain
  let flags = 0
  if (options.level > 0 && looksCompressible(plain)) {
    const packed = compress(plain, { compressionLevel: options.level })
    // Keep zstd only when it saves at least 1/32: otherwise reads pay decompression for nothing.
    if (packed.length < plain.length - (plain.length >> 5)) {
      payload = packed
      flags |= FLAG_COMPRESSED
    }
  }
  if (options.dataKey !== undefined) flags |= FLAG_ENCRYPTED
  const header = encodeEnvelopeHeader({ kind, flags, plainLength: plain.length })
  if (options.dataKey !== undefined) {
    return [header, ...seal(options.dataKey, payload, Buffer.concat([header, binding]))]
  }
  const trailer = kind === KIND_CHUNK ? [] : [sha256(plain)]
  return [header, payload, ...trailer]
}

/**
 * encodeObject written into `out` (at least maxEncodedLength(plain.length) bytes); returns the length.
 * The same bytes as encodeObjectParts, but without a buffer the size of the object per step: zstd
 * writes into reused scratch memory and the cipher into `out` (fresh 2 MiB buffers cost page faults).
 */
export function encodeObjectInto(
  out: Uint8Array,
  kind: number,
  plain: Uint8Array,
  binding: Uint8Array,
  options: CodecOptions,
): number {
  let payload = plain
  let flags = 0
  if (options.level > 0 && looksCompressible(plain)) {
    const packed = scratch.compress(plain, options.level)
    if (packed.length < plain.length - (plain.length >> 5)) {
      payload = packed
      flags |= FLAG_COMPRESSED
    }
  }
  if (options.dataKey !== undefined) flags |= FLAG_ENCRYPTED
  const header = encodeEnvelopeHeader({ kind, flags, plainLength: plain.length })
  out.set(header, 0)
  if (options.dataKey !== undefined) {
    return sealInto(options.dataKey, payload, Buffer.concat([header, binding]), out, header.length)
  }
  out.set(payload, header.length)
  let at = header.length + payload.length
  if (kind !== KIND_CHUNK) {
    const checksum = sha256(plain)
    out.set(checksum, at)
    at += checksum.length
  }
  return at
}

/** One zstd context and output buffer per thread, reused for every object it compresses. */
class ZstdScratch {
  readonly #cctx = new zstd.CCtx()
  readonly #dctx = new zstd.DCtx()
  #out = Buffer.alloc(0)
  #deciphered = Buffer.alloc(0)

  /** `data` compressed: a view of the scratch buffer, valid until the next call. */
  compress(data: Uint8Array, level: number): Buffer {
    const bound = zstd.compressBound(data.length)
    if (this.#out.length < bound) this.#out = Buffer.allocUnsafeSlow(bound)
    return this.#out.subarray(0, this.#cctx.compress(this.#out, data, level))
  }

  /** Decompresses one whole zstd frame into `out`; returns the length (throws if it does not fit). */
  decompress(out: Uint8Array, frame: Uint8Array): number {
    return this.#dctx.decompress(out, frame)
  }

  /** Reused memory of at least `length` bytes, for a compressed payload on its way to decompress. */
  decipherTarget(length: number): Buffer {
    if (this.#deciphered.length < length) this.#deciphered = Buffer.allocUnsafeSlow(length)
    return this.#deciphered
  }
}

const scratch = new ZstdScratch()

const PROBE_PART = 16 * 1024

/**
 * zstd on incompressible data (encrypted files, media, already compressed) costs time for nothing: probe
 * four 16 KiB samples spread over a large object with zstd level 1, and skip compression if they do not
 * shrink. A chunk compressible only outside the samples is then stored raw, which is correct, only larger.
 */
export function looksCompressible(plain: Uint8Array): boolean {
  if (plain.length < 16 * PROBE_PART) return true
  const step = Math.floor(plain.length / 4)
  for (let i = 0; i < 4; i++) probe.set(plain.subarray(i * step, i * step + PROBE_PART), i * PROBE_PART)
  return scratch.compress(probe, 1).length < probe.length - (probe.length >> 5)
}

const probe = Buffer.allocUnsafeSlow(4 * PROBE_PART)

/**
 * The plaintext of a stored object. Plain chunks are checked by the caller against their id; every other
 * case is checked here (GCM tag, or the SHA-256 trailer). `maxPlain` bounds what the header may declare
 * (maxPlainLength of the kind); a compressed payload is decompressed into exactly the declared length,
 * so that a zstd bomb fails as CORRUPT_OBJECT without anything larger being allocated.
 */
export function decodeObject(
  bytes: Uint8Array,
  kind: number,
  binding: Uint8Array,
  dataKey: Uint8Array | undefined,
  what: string,
  maxPlain = maxPlainLength(kind),
): Uint8Array {
  const { env, corrupt, trailer } = openEnvelope(bytes, kind, dataKey, what)
  if (env.plainLength > maxPlain)
    throw corrupt(`it declares ${env.plainLength} bytes, at most ${maxPlain} expected`)
  let payload: Uint8Array
  if (dataKey !== undefined) {
    const opened = open(dataKey, env.body, Buffer.concat([env.header, binding]))
    if (opened === undefined) throw corrupt('authentication failed')
    payload = opened
  } else payload = trailer === undefined ? env.body : env.body.subarray(0, -PLAIN_CHECKSUM_LENGTH)
  let plain = payload
  if ((env.flags & FLAG_COMPRESSED) !== 0) {
    plain = Buffer.allocUnsafe(env.plainLength)
    let length: number
    try {
      length = scratch.decompress(plain, payload) // fails when the frames hold more than the header says
    } catch (cause) {
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `${what} is corrupt: bad zstd data or longer than its header says`,
        {
          cause,
        },
      )
    }
    plain = plain.subarray(0, length)
  }
  if (plain.length !== env.plainLength)
    throw corrupt(`length ${plain.length}, header says ${env.plainLength}`)
  if (trailer !== undefined && !sha256(plain).equals(trailer)) throw corrupt('checksum mismatch')
  return plain
}

/**
 * decodeObject written into `out`; returns the plaintext's length. For chunks read in bulk: the
 * plaintext lands in reused memory instead of a new buffer per object (fresh 2 MiB buffers cost page
 * faults and, moved between threads, garbage collections). An object whose plaintext would not fit is
 * corrupt. On error, what `out` holds must not be used.
 */
export function decodeObjectInto(
  out: Uint8Array,
  bytes: Uint8Array,
  kind: number,
  binding: Uint8Array,
  dataKey: Uint8Array | undefined,
  what: string,
): number {
  const { env, corrupt, trailer } = openEnvelope(bytes, kind, dataKey, what)
  if (env.plainLength > out.length) throw corrupt(`length ${env.plainLength}, at most ${out.length} expected`)
  const compressed = (env.flags & FLAG_COMPRESSED) !== 0
  let payload: Uint8Array
  if (dataKey !== undefined) {
    const sealedLength = env.body.length - GCM_NONCE_LENGTH - GCM_TAG_LENGTH
    // Uncompressed, the plaintext is the payload: deciphered straight into place.
    const target = compressed ? scratch.decipherTarget(Math.max(0, sealedLength)) : out
    if (sealedLength > target.length) throw corrupt(`length ${sealedLength}, at most ${out.length} expected`)
    const end = openInto(dataKey, env.body, Buffer.concat([env.header, binding]), target, 0)
    if (end === undefined) throw corrupt('authentication failed')
    payload = target.subarray(0, end)
  } else payload = trailer === undefined ? env.body : env.body.subarray(0, -PLAIN_CHECKSUM_LENGTH)
  let length: number
  if (compressed) {
    try {
      length = scratch.decompress(out.subarray(0, env.plainLength), payload)
    } catch (cause) {
      throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: bad zstd data`, { cause })
    }
  } else {
    length = payload.length
    if (length > out.length) throw corrupt(`length ${length}, at most ${out.length} expected`)
    if (payload.buffer !== out.buffer) out.set(payload) // else deciphered in place already
  }
  if (length !== env.plainLength) throw corrupt(`length ${length}, header says ${env.plainLength}`)
  if (trailer !== undefined && !sha256(out.subarray(0, length)).equals(trailer))
    throw corrupt('checksum mismatch')
  return length
}

/** The checks both decoders share: envelope, encryption as the repository expects, the plain trailer. */
function openEnvelope(bytes: Uint8Array, kind: number, dataKey: Uint8Array | undefined, what: string) {
  const env = parseEnvelope(bytes, kind, what)
  const corrupt = (why: string): RepositoryError =>
    new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: ${why}`)
  const encrypted = (env.flags & FLAG_ENCRYPTED) !== 0
  if (encrypted !== (dataKey !== undefined)) {
    throw corrupt(encrypted ? 'encrypted in a plain repository' : 'not encrypted in an encrypted repository')
  }
  let trailer: Uint8Array | undefined
  if (dataKey === undefined && kind !== KIND_CHUNK) {
    if (env.body.length < PLAIN_CHECKSUM_LENGTH) throw corrupt('truncated')
    trailer = env.body.subarray(env.body.length - PLAIN_CHECKSUM_LENGTH)
  }
  return { env, corrupt, trailer }
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}
