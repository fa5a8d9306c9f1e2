// Helpers of the cold tier's tests: a repository with old and young points on two stores, and what each
// tier holds.
import type { ObjectStore } from '../../storage/index.js'
import type { Repository } from '../repository.js'
import { DiskReader } from '../disk-reader.js'
import { listPoints, readDiskIndex, readManifest } from '../points.js'
import { PREFIX_CHUNKS } from '../format/constants.js'
import { chunkIdOfKey } from '../format/layout.js'
import { PREFIX_TIERED, idOfTieredKey } from '../format/tier.js'

export const DAY_MS = 86_400_000

export async function chunkIdsIn(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>()
  for await (const info of store.list(PREFIX_CHUNKS)) {
    const hex = chunkIdOfKey(info.key)
    if (hex !== undefined) ids.add(hex)
  }
  return ids
}

export async function locatorIds(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>()
  for await (const info of store.list(PREFIX_TIERED)) {
    const hex = idOfTieredKey(info.key)
    if (hex !== undefined) ids.add(hex)
  }
  return ids
}

/** Non-zero chunk ids of the points whose time is at or after `since` (or before it, with `before`). */
export async function referencedIds(repo: Repository, since: number, before = false): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const point of await listPoints(repo)) {
    if (point.time.getTime() >= since === before) continue
    for (const disk of (await readManifest(repo, point)).disks) {
      const index = await readDiskIndex(repo, disk.index)
      const reader = new DiskReader(repo, disk.name, index)
      for (const i of reader.nonZeroChunks()) ids.add(reader.idOf(i)!)
    }
  }
  return ids
}

/** Non-zero chunk ids of one point. */
export async function pointIds(repo: Repository, ref: { vm: string; pointId: string }): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const disk of (await readManifest(repo, ref)).disks) {
    const reader = new DiskReader(repo, disk.name, await readDiskIndex(repo, disk.index))
    for (const i of reader.nonZeroChunks()) ids.add(reader.idOf(i)!)
  }
  return ids
}
