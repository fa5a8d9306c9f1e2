// The one place where chunk ids are computed: SHA-256 of the plaintext, or HMAC-SHA-256 under the id key
// in an encrypted repository (so that ids reveal nothing about contents to whoever holds the store).
import { createHash, createHmac } from 'node:crypto'

export type ChunkIdFunction = (plaintext: Uint8Array) => Buffer

export function chunkIdFunction(idKey: Uint8Array | undefined): ChunkIdFunction {
  if (idKey === undefined) return (data) => createHash('sha256').update(data).digest()
  const key = Buffer.from(idKey)
  return (data) => createHmac('sha256', key).update(data).digest()
}
