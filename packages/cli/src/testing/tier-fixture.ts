// Test support for the cold tier's CLI tests: restore points written with a chosen date (old points are
// made by dating them back, as an import does), what each tier holds, and a seeded random for kills.
import { createHash } from 'node:crypto'
import {
  DiskReader,
  PointWriter,
  listPoints,
  readDiskIndex,
  readManifest,
  type Repository,
} from '@strata/core/repository'
import type { ObjectStore } from '@strata/core/storage'

export const DAY_MS = 86_400_000

/** A restore point of `image` (one disk) dated `time`; resolves to its ref ('<vm>/<point id>'). */
export async function writePoint(repo: Repository, image: Buffer, time: Date, vm = 'vm'): Promise<string> {
  const point = await PointWriter.begin(repo, { vm, time })
  try {
    const disk = point.openDisk('xvda', image.length)
    const size = repo.chunkSize
    // The writer bounds its own concurrency: handing it every chunk at once overlaps the store's latency.
    const puts = Array.from({ length: disk.chunkCount }, (_, i) =>
      disk.putChunk(i, image.subarray(i * size, (i + 1) * size)),
    )
    const failed = (await Promise.allSettled(puts)).find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    return (await point.commit()).ref
  } catch (error) {
    await point.abort()
    throw error
  }
}

/** Hex ids under chunks/ of a store. */
export async function storedChunkIds(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>()
  for await (const info of store.list('chunks/')) ids.add(info.key.slice(info.key.lastIndexOf('/') + 1))
  return ids
}

/** Non-zero chunk ids of the points dated at or after `since`. */
export async function youngChunkIds(repo: Repository, since: number): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const point of await listPoints(repo)) {
    if (point.time.getTime() < since) continue
    for (const disk of (await readManifest(repo, point)).disks) {
      const reader = new DiskReader(repo, disk.name, await readDiskIndex(repo, disk.index))
      for (const i of reader.nonZeroChunks()) ids.add(reader.idOf(i)!)
    }
  }
  return ids
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** mulberry32: a small seeded generator, so that a failing sequence of kills can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
