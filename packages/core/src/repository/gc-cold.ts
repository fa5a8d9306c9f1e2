// GC of a repository's cold tier, run inside the same sweep announcements as the hot sweep (gc.ts), with
// the same mark set and cutoff: a cold copy no restore point or running backup references goes, then
// its locator. Writers never read cold, but a backup may borrow a hot copy that the mover deletes right
// after: its borrow is marked (the announcement protocol of docs/repository-format.md), so the cold
// copy it then relies on is never swept.
import type { ObjectStore } from '../storage/index.js'
import { sweepChunkObjects, type ChunkSweepContext } from './gc-chunk-sweep.js'
import type { MarkSet } from './mark-set.js'
import type { Repository } from './repository.js'
import { chunkKey } from './format/layout.js'
import { PREFIX_TIERED, idOfTieredKey } from './format/tier.js'

export interface ColdSweepResult {
  readonly chunks: number
  readonly chunksDeleted: number
  readonly bytesDeleted: number
  readonly keptYoung: number
  readonly locatorsDeleted: number
}

export async function sweepCold(
  repo: Repository,
  cold: ObjectStore,
  marks: MarkSet,
  cutoff: number,
  context: ChunkSweepContext,
): Promise<ColdSweepResult> {
  const swept = await sweepChunkObjects(marks, cutoff, context)
  const locatorsDeleted = context.dryRun
    ? 0
    : await removeStaleLocators(repo, cold, marks, cutoff, context.signal)
  const { chunks, keptYoung, chunksDeleted, bytesDeleted } = swept
  return { chunks, keptYoung, chunksDeleted, bytesDeleted, locatorsDeleted }
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
