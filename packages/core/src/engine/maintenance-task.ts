// The body of each repository maintenance task, given an open repository and a task context: gc
// (lock-free, safe beside running backups; then, for a repository with a cold tier, the tier move as a
// child task), check (structure), verify (a sample of chunks read and authenticated). A problem found
// fails the task with the objects named, so that its run shows red in the runs list. The server runs it
// for its own repositories, an agent for the repositories assigned to it (docs/agents.md).
import {
  checkRepository,
  collectGarbage,
  moveToCold,
  RepositoryError,
  verifyChunks,
  type Repository,
} from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'

export type MaintenanceKind = 'gc' | 'check' | 'verify'

export interface MaintenanceSettings {
  /** gc: unreferenced chunks younger than this are kept (gc's default without). */
  readonly gcSafetyMarginMs?: number
  /** verify: the fraction of chunks read, in (0, 1]. */
  readonly verifySample: number
}

export async function runMaintenance(
  task: TaskContext,
  repo: Repository,
  kind: MaintenanceKind,
  settings: MaintenanceSettings,
): Promise<void> {
  const { signal } = task
  if (kind === 'gc') {
    const margin = settings.gcSafetyMarginMs
    const safetyMargin = margin === undefined ? {} : { safetyMarginMs: margin }
    const result = await collectGarbage(repo, { signal, ...safetyMargin })
    task.set({ ...result })
    if (repo.cold !== undefined) await task.child('tier move', (t) => moveTier(t, repo, safetyMargin))
    return
  }
  if (kind === 'check') return check(task, repo)
  return verify(task, repo, settings.verifySample)
}

async function check(task: TaskContext, repo: Repository): Promise<void> {
  const result = await checkRepository(repo, { signal: task.signal })
  task.set({ points: result.points, indexes: result.indexes, chunks: result.chunks })
  if (result.ok) return
  for (const p of result.problems) task.warn(`${p.object}: ${p.problem}`)
  const first = result.problems[0]!
  throw new RepositoryError(
    'CORRUPT_OBJECT',
    `check found ${result.problems.length} problems in repository '${repo.name}', first ${first.object}: ${first.problem}`,
  )
}

async function verify(task: TaskContext, repo: Repository, sample: number): Promise<void> {
  const result = await verifyChunks(repo, {
    sample,
    signal: task.signal,
    onProgress: (p) => task.progress({ done: Math.round(p.fraction * 1000), total: 1000 }),
  })
  task.set({ chunks: result.chunks, checked: result.checked, bytes: result.bytes, bad: result.bad.length })
  if (result.bad.length === 0) return
  for (const b of result.bad) task.warn(b.reason, { chunk: b.id })
  throw new RepositoryError(
    'CORRUPT_OBJECT',
    `verify found ${result.bad.length} bad chunks in repository '${repo.name}' (marked for re-upload): ${result.bad
      .slice(0, 5)
      .map((b) => `chunk ${b.id}`)
      .join(', ')}`,
  )
}

/** docs/tiering.md: chunks only old points reference go to the cold tier, after each gc. */
async function moveTier(
  task: TaskContext,
  repo: Repository,
  margin: { safetyMarginMs?: number },
): Promise<void> {
  const result = await moveToCold(repo, { signal: task.signal, ...margin })
  task.set({ ...result, failed: result.failed.length })
  // Their hot copies stay, nothing is lost: a warning, not a failed gc.
  for (const f of result.failed) task.warn(f.reason, { chunk: f.id })
}
