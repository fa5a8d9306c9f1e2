// The one sweep loop of GC, for the repository's chunks (gc.ts) and for its cold tier's (gc-cold.ts):
// a chunk that no mark covers and that was written before the cutoff is deleted, in batches. Between
// batches the deletes settle, the announcement is renewed (which reads the sessions again and grows the
// mark set), and the candidate is checked again: a writer may have borrowed it meanwhile.
import type { Announcement, SweepDeletes } from './gc-sweep.js'
import type { MarkSet } from './mark-set.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey } from './format/layout.js'

export interface ChunkSweepContext {
  readonly announcement: Announcement
  /** Publishes a new announcement, withdraws the previous one and marks what live sessions protect by then. */
  readonly renew: () => Promise<void>
  /** Deletes from the store swept (SweepDeletes over it), bounded by the announcement's deadline. */
  readonly deletes: SweepDeletes
  readonly batchMs: number
  readonly dryRun: boolean
  readonly signal?: AbortSignal
}

export interface ChunkSweepResult {
  readonly chunks: number
  readonly chunksDeleted: number
  /** Unreferenced chunks kept because their Object Lock retention has not ended. */
  readonly keptLocked: number
  readonly bytesDeleted: number
  readonly keptYoung: number
  readonly stoppedAtDeadline: boolean
}

/** Sweeps the chunks of `deletes.store`; in a dry run, counts what it would delete instead. */
export async function sweepChunkObjects(
  marks: MarkSet,
  cutoff: number,
  context: ChunkSweepContext,
): Promise<ChunkSweepResult> {
  const { announcement, deletes, signal } = context
  let batchStart = Date.now()
  const counts = { chunks: 0, keptYoung: 0, wouldDelete: 0, wouldFree: 0 }
  for await (const info of deletes.store.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    counts.chunks++
    const id = Buffer.from(hex, 'hex')
    if (marks.mayContain(id)) continue
    // Written within the margin (or by a backup still running): the cutoff protects it.
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
      if (marks.mayContain(id)) continue // borrowed meanwhile
    }
    if (!(await deletes.start(info.key, info.size, announcement.deadline))) break
  }
  await deletes.drain()
  return {
    chunks: counts.chunks,
    keptYoung: counts.keptYoung,
    chunksDeleted: context.dryRun ? counts.wouldDelete : deletes.deleted,
    keptLocked: deletes.locked,
    bytesDeleted: context.dryRun ? counts.wouldFree : deletes.bytes,
    stoppedAtDeadline: deletes.stopped,
  }
}
