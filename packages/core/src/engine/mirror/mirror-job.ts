// A run of a mirror job (kind 'mirror', docs/mirror.md): the job's one repository copied into each of its
// targets in turn, each target a task of the run's tree that counts the chunks and bytes copied and
// skipped (mirrorRepository sets them), with the schedule's retention applied on the target. A target
// that fails does not stop the others; the run fails naming it. Each repository opens with its own
// secrets (slots: the source 0, the targets 1..n), so that plain, encrypted and differently keyed
// repositories mix.
import { errorMessage, throwIfAborted, type TaskContext } from '../../shared/index.js'
import type { Repository } from '../../repository/index.js'
import type { Job, RepositoryTarget, Schedule } from '../job.js'
import { MirrorError } from './mirror-error.js'
import { mirrorRepository } from './mirror-run.js'

/** What a mirror run needs of the run's effects (run.ts's RunDeps has it). */
export interface MirrorRunDeps {
  openRepository(
    target: RepositoryTarget,
    signal: AbortSignal,
    options: { readonly passphraseShared: boolean; readonly slot: number },
  ): Promise<Repository>
}

interface MirrorRun {
  readonly job: Job
  readonly deps: MirrorRunDeps
}

export async function runMirror(
  task: TaskContext,
  o: MirrorRun,
  schedule: Schedule | undefined,
): Promise<void> {
  const source = o.job.repositories[0]
  if (source === undefined || o.job.mirrorTo.length === 0)
    throw new MirrorError(
      'INVALID_ARGUMENT',
      `mirror job '${o.job.name}' needs one source and one target at least`,
    )
  const from = await openSlot(task, o, source, 0)
  const failed: string[] = []
  try {
    for (const [i, target] of o.job.mirrorTo.entries()) {
      await task
        .child('mirror', (t) => mirrorTo(t, o, from, target, i + 1, schedule), {
          repository: source.name,
          target: target.name,
        })
        // A failed task in the tree; the other targets still get their copy.
        .catch((error: unknown) => failed.push(`'${target.name}': ${errorMessage(error)}`))
    }
  } finally {
    await Promise.resolve(from.store.close?.()).catch(() => undefined)
  }
  if (failed.length === 0) return
  throwIfAborted(task.signal)
  const of = `${failed.length} of ${o.job.mirrorTo.length}`
  throw new MirrorError('MIRROR_FAILED', `${of} mirror targets failed: ${failed.join('; ')}`)
}

async function mirrorTo(
  task: TaskContext,
  o: MirrorRun,
  from: Repository,
  target: RepositoryTarget,
  slot: number,
  schedule: Schedule | undefined,
): Promise<void> {
  const to = await openSlot(task, o, target, slot)
  try {
    await mirrorRepository(task, from, to, {
      vms: o.job.vms.kind === 'explicit' ? o.job.vms.vms : undefined,
      policy: schedule?.retention,
      timeZone: schedule?.timezone,
    })
  } finally {
    await Promise.resolve(to.store.close?.()).catch(() => undefined)
  }
}

function openSlot(
  task: TaskContext,
  o: MirrorRun,
  target: RepositoryTarget,
  slot: number,
): Promise<Repository> {
  const open = (t: TaskContext) => o.deps.openRepository(target, t.signal, { passphraseShared: false, slot })
  return task.child('open repository', open, { repository: target.name })
}
