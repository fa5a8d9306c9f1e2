// Pumps a disk source into a chunk sink: each chunk stored in every target, then its lease released, with
// a bounded number of stores in flight. Errors of the store end the copy (nothing left running behind
// the caller's back); they are never a reason for the source to read another way.
import type { ChunkTarget } from './chunk-target.js'
import type { ChunkPart, DiskChunk, DiskSource, SourceEvents, SourceOutcome } from './disk-source.js'
import { DiskError } from './errors.js'

export interface CopyDiskOptions {
  readonly signal: AbortSignal
  /** Chunks already in every writer (adopted from an interrupted attempt): never read. */
  readonly skip?: ReadonlySet<number>
  /** Some writer starts from a base index: chunks the source leaves out must be stored (as zeros). */
  readonly complete?: boolean
  readonly warn?: SourceEvents['warn']
  /** Stores in flight at most (each holds a chunk's buffer). Default 16. */
  readonly inFlight?: number
}

export async function copyDisk(
  source: DiskSource,
  sink: ChunkTarget,
  options: CopyDiskOptions,
): Promise<SourceOutcome> {
  if (source.size < sink.size) {
    throw new DiskError(
      'DISK_SOURCE_INVALID',
      `${source.description} has ${source.size} bytes, the disk being written ${sink.size}`,
    )
  }
  const { signal } = options
  const limit = Math.max(1, options.inFlight ?? 16)
  const pending = new Set<Promise<void>>()
  const chunks = source.chunks({
    chunkSize: sink.chunkSize,
    needed: sink.needed(),
    skip: options.skip,
    complete: options.complete === true,
    ordered: sink.ordered === true,
    partial: sink.partial === true && sink.putParts !== undefined,
    signal,
    events: {
      warn: options.warn,
      planned: (_n, bytes, indexes, parts) => {
        sink.expect(bytes)
        if (indexes !== undefined) sink.plan?.(indexes, parts)
      },
    },
  })
  try {
    for await (const chunk of chunks) {
      const tracked = store(source, sink, chunk, signal).finally(() => pending.delete(tracked))
      tracked.catch(() => {}) // observed below
      pending.add(tracked)
      if (pending.size >= limit) await Promise.race(pending)
    }
    await Promise.all(pending)
  } catch (error) {
    await Promise.allSettled(pending)
    throw error
  }
  if (source.outcome === undefined) {
    throw new DiskError('DISK_SOURCE_INVALID', `${source.description} ended without an outcome`)
  }
  return source.outcome
}

/** Stores one chunk in every target, then gives its bytes back; a chunk the disk cannot hold is refused. */
function store(source: DiskSource, sink: ChunkTarget, chunk: DiskChunk, signal: AbortSignal): Promise<void> {
  const { index, lease } = chunk
  if (!Number.isInteger(index) || index < 0 || index >= sink.chunkCount) {
    lease?.release()
    for (const p of chunk.parts ?? []) p.lease.release()
    throw new DiskError('DISK_SOURCE_INVALID', `${source.description} delivered chunk ${index}`)
  }
  if (chunk.parts !== undefined) return storeParts(source, sink, index, chunk.parts, signal)
  if (lease === undefined) return sink.putZero(index, signal)
  if (lease.bytes.length !== sink.chunkLength(index)) {
    lease.release()
    throw new DiskError(
      'DISK_SOURCE_INVALID',
      `${source.description} delivered ${lease.bytes.length} bytes for chunk ${index} of ${sink.chunkLength(index)}`,
    )
  }
  return sink.put(index, lease.bytes, signal).finally(() => lease.release())
}

/** Stores the changed parts of one chunk (a partial target), then gives their bytes back. */
function storeParts(
  source: DiskSource,
  sink: ChunkTarget,
  index: number,
  parts: readonly ChunkPart[],
  signal: AbortSignal,
): Promise<void> {
  const release = () => parts.forEach((p) => p.lease.release())
  const length = sink.chunkLength(index)
  let end = 0
  for (const p of parts) {
    if (sink.putParts === undefined || p.offset < end || p.offset + p.lease.bytes.length > length) {
      release()
      throw new DiskError(
        'DISK_SOURCE_INVALID',
        `${source.description} delivered parts of chunk ${index} out of order or outside it`,
      )
    }
    end = p.offset + p.lease.bytes.length
  }
  const bytes = parts.map((p) => ({ offset: p.offset, bytes: p.lease.bytes }))
  return sink.putParts!(index, bytes, signal).finally(release)
}
