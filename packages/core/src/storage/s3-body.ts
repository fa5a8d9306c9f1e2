// Reading S3 response bodies without ever returning a short body as data: a body with fewer bytes than
// Content-Length (a connection cut mid-transfer, a proxy that truncates) is a TRANSIENT failure.
import type { Readable } from 'node:stream'
import { raceAbort } from '../shared/index.js'
import { StorageError } from './storage-error.js'

interface BodyOutput {
  Body?: unknown
  ContentLength?: number
  ContentRange?: string
}

/**
 * The body, in one array of its own or, if given and large enough for the announced length, in `into`:
 * then each piece is copied into place as it arrives, and none is kept (one copy, not two).
 */
export async function readBody(
  out: BodyOutput,
  what: string,
  signal: AbortSignal | undefined,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const body = out.Body as (Readable & AsyncIterable<Uint8Array>) | undefined
  if (body === undefined) return new Uint8Array(0)
  const expected = out.ContentLength
  const target =
    into !== undefined && expected !== undefined && expected <= into.length
      ? into.subarray(0, expected)
      : undefined
  const chunks: Uint8Array[] = []
  let received = 0
  try {
    await raceAbort(
      (async () => {
        for await (const chunk of body) {
          if (target !== undefined) {
            // Never past the announced length: the caller's memory after it is not ours to write.
            if (received + chunk.length > target.length)
              throw lengthError(what, received + chunk.length, expected)
            target.set(chunk, received)
          } else chunks.push(chunk)
          received += chunk.length
        }
      })(),
      signal,
    )
  } catch (error) {
    body.destroy()
    throw error
  }
  if (expected !== undefined && received !== expected) throw lengthError(what, received, expected)
  if (target !== undefined) return target
  // One copy into an array of its own (never a view of a shared pool slab), or into the caller's.
  const bytes =
    into !== undefined && received <= into.length ? into.subarray(0, received) : new Uint8Array(received)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.length
  }
  return bytes
}

function lengthError(what: string, received: number, expected: number | undefined): StorageError {
  const has = received > (expected ?? 0) ? `at least ${received}` : `${received}`
  return new StorageError('TRANSIENT', `${what}: body has ${has} of ${expected} bytes`, {
    details: { received, expected },
  })
}

/** Checks that a ranged answer is the range asked for (or the object's tail); slices a full answer. */
export function rangeOf(out: BodyOutput, bytes: Uint8Array, offset: number, length: number, what: string) {
  if (out.ContentRange === undefined) return bytes.subarray(offset, offset + length)
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(out.ContentRange)
  const start = Number(match?.[1])
  const end = Number(match?.[2])
  const total = match?.[3] === '*' ? undefined : Number(match?.[3])
  const short = end - start + 1 < length
  const valid =
    match !== null &&
    start === offset &&
    end - start + 1 === bytes.length &&
    bytes.length <= length &&
    (!short || total === undefined || end === total - 1)
  if (!valid) {
    throw new StorageError('CORRUPT_RESPONSE', `${what}: answer has range '${out.ContentRange}'`, {
      details: { contentRange: out.ContentRange, received: bytes.length },
    })
  }
  return bytes
}
