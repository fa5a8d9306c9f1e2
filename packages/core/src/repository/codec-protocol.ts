// Messages between the codec pool and its worker threads.
import { createHash } from 'node:crypto'

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
      /** Also the SHA-256 of the result, for the store (hashing 2 MiB costs the main thread milliseconds). */
      sha256?: boolean
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
  | { id: number; result: Uint8Array; sha256?: string; error?: undefined }
  | { id: number; error: { code: string; message: string } }

/** The SHA-256 (hex) a store may take instead of hashing the bytes itself. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The buffer to move instead of copying: only one that `bytes` covers whole (never a pooled slice). */
export function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const buffer = bytes.buffer
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength
    ? [buffer]
    : []
}
