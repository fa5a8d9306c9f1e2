// GC of a repository's cold tier, run inside the same sweep announcements as the hot sweep (gc.ts), with
// the same mark set and cutoff: a cold copy no restore point or running backup references goes, then
// its locator. Writers never read cold, but a backup may borrow a hot copy that the mover deletes right
// after: its borrow is marked (the announcement protocol of docs/repository-format.md), so the cold
// copy it then relies on is never swept.
import type { ObjectStore } from '../storage/index.js'
import type { Announcement, SweepDeletes } from './gc-sweep.js'
import type { MarkSet } from './mark-set.js'
import type { Repository } from './repository.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey, chunkKey } from './format/layout.js'
import { PREFIX_TIERED, idOfTieredKey } from './format/tier.js'

export interface ColdSweepResult {
  readonly chunks: number
  readonly chunksDeleted: number
  readonly bytesDeleted: number
  readonly keptYoung: number
  readonly locatorsDeleted: number
}

export interface ColdSweepContext {
  readonly announcement: Announcement
  readonly renew: () => Promise<void>
  /** Deletes from the cold store (SweepDeletes over it), bounded by the announcement's deadline. */
  readonly deletes: SweepDeletes
  readonly batchMs: number
  readonly dryRun: boolean
  readonly signal?: AbortSignal
}

export async function sweepCold(
  repo: Repository,
  cold: ObjectStore,
  marks: MarkSet,
  cutoff: number,
  context: ColdSweepContext,
): Promise<ColdSweepResult> {
  const { deletes, announcement, signal } = context
  let batchStart = Date.now()
  const counts = { chunks: 0, keptYoung: 0, wouldDelete: 0, wouldFree: 0 }
  for await (const info of cold.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    counts.chunks++
    const id = Buffer.from(hex, 'hex')
    if (marks.mayContain(id)) continue
    // A copy the mover made within the margin: the cutoff protects it as it does young hot chunks.
    if (info.modified === undefined || info.modified.getTime() >= cutoff) {
      counts.keptYoung++
      continue
    }
    if (context.dryRun) {
      counts.wouldDelete++
      counts.wouldFree += info.size
      continue
    }
    if (Date.now() - batchStart >= context.batchMs) {
      await deletes.drain()
      await context.renew()
      batchStart = Date.now()
      if (marks.mayContain(id)) continue
    }
    if (!(await deletes.start(info.key, info.size, announcement.deadline))) break
  }
  await deletes.drain()
  const locatorsDeleted = context.dryRun ? 0 : await removeStaleLocators(repo, cold, marks, cutoff, signal)
  return {
    chunks: counts.chunks,
    keptYoung: counts.keptYoung,
    chunksDeleted: context.dryRun ? counts.wouldDelete : deletes.deleted,
    bytesDeleted: context.dryRun ? counts.wouldFree : deletes.bytes,
    locatorsDeleted,
  }
}

/**
 * Locators whose cold copy is gone (swept above, or a crash between the two deletes). Only unmarked and
 * old ones: a locator says nothing to writers, and a referenced chunk keeps its locator.
 */
async function removeStaleLocators(
  repo: Repository,
  cold: ObjectStore,
  marks: MarkSet,
  cutoff: number,
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0
  for await (const info of repo.store.list(PREFIX_TIERED, { signal })) {
    const hex = idOfTieredKey(info.key)
    if (hex === undefined || marks.mayContain(Buffer.from(hex, 'hex'))) continue
    if ((info.modified?.getTime() ?? Infinity) >= cutoff) continue
    if ((await cold.stat(chunkKey(hex), { signal })) !== undefined) continue
    await repo.store.delete(info.key, { signal })
    removed++
  }
  return removed
}
