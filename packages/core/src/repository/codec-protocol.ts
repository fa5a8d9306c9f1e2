// Messages between the codec pool and its worker threads.
import { createHash } from 'node:crypto'
import type { Digests } from '../storage/index.js'

export type CodecRequest = { id: number } & (
  | { op: 'id'; data: Uint8Array; idKey: Uint8Array | undefined }
  | {
      op: 'encode'
      kind: number
      data: Uint8Array
      binding: Uint8Array
      dataKey: Uint8Array | undefined
      level: number
      /** Shared memory to write the result into (its length is maxEncodedLength); a new buffer without. */
      out?: Uint8Array
      /** Also the digests of the result, for the store (hashing 2 MiB costs the main thread milliseconds). */
      digests?: boolean
    }
  | {
      op: 'decode'
      kind: number
      data: Uint8Array
      binding: Uint8Array
      dataKey: Uint8Array | undefined
      what: string
      /** Shared memory to write the plaintext into. */
      out: Uint8Array
    }
)

export type CodecReply =
  | { id: number; result: Uint8Array; digests?: Digests; error?: undefined }
  | { id: number; error: { code: string; message: string } }

/** The digests a store may take instead of hashing the bytes itself. */
export function digestsOf(bytes: Uint8Array): Digests {
  return {
    md5: createHash('md5').update(bytes).digest('base64'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  }
}

/** The buffer to move instead of copying: only one that `bytes` covers whole (never a pooled slice). */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const buffer = bytes.buffer
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? [buffer]
    : []
}
