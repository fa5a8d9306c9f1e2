// Retention after a successful backup: the restore points of one VM written by this job and schedule
// are judged by the schedule's policy (retention/), and the rejected ones are deleted (a metadata
// operation: nothing is merged; chunks go at the next GC). Points of other jobs and schedules are
// never touched. Protected points (repository/protection.ts) are outside the policy: neither counted
// nor removed, and said so ("kept: protected").
import {
  deletePoint,
  listPoints,
  readManifest,
  type PointSummary,
  type Repository,
} from '../repository/index.js'
import { applyRetention, type RetentionPolicy } from '../retention/index.js'
import type { TaskContext } from '../shared/index.js'

export interface ScheduleRetention {
  readonly vmUuid: string
  readonly jobId: string
  readonly scheduleId: string | undefined
  readonly policy: RetentionPolicy
  readonly timeZone: string
  /** The point this run just wrote: kept whatever the policy says. */
  readonly protect: string
}

export async function applyScheduleRetention(
  task: TaskContext,
  repo: Repository,
  o: ScheduleRetention,
): Promise<{ kept: string[]; removed: string[]; protected: string[] }> {
  const { signal } = task
  // The job and schedule live in the manifests; one read per point of this VM is cheap next to a backup.
  const mine: PointSummary[] = []
  for (const point of await listPoints(repo, o.vmUuid, signal)) {
    const manifest = await readManifest(repo, point, signal)
    if (manifest.jobId === o.jobId && manifest.scheduleId === o.scheduleId) mine.push(point)
  }
  const guarded = mine.filter((p) => p.protected).map((p) => p.pointId)
  const decision = applyRetention(
    mine.filter((p) => !p.protected).map((p) => ({ id: p.pointId, time: p.time, scheduleId: o.scheduleId })),
    o.policy,
    o.timeZone,
  )
  const removed = decision.remove.filter((id) => id !== o.protect)
  for (const id of removed) await deletePoint(repo, { vm: o.vmUuid, pointId: id }, signal)
  const kept = mine.map((p) => p.pointId).filter((id) => !removed.includes(id))
  if (guarded.length > 0) task.info(`kept: protected: ${guarded.join(', ')}`, { protected: guarded })
  task.set({ kept: kept.length, removed, protected: guarded })
  return { kept, removed, protected: guarded }
}
