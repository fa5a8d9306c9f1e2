// A restore as a run of its own, in the process that does the work (a worker, see worker.ts): a restore
// point's VM, or one of its disks as a new VDI, onto an SR of a pool, with a task tree written to the
// engine's run log like a backup run's, so that logs and the UI read both alike. Its effects are
// injected (RestoreDeps), as a backup run's are.
import type { RepositoryIdentity } from '../repository/index.js'
import { allowManyListeners, type TaskContext, type TaskStatus } from '../shared/index.js'
import type { PoolConnection } from './job.js'
import { openRunLog } from './run-log.js'
import { runDirs, type RunDeps } from './run.js'
import { runRootTask, statusOf, toTaskError, type TaskError, type TaskEvent } from './task-tree.js'
import type { RestoredObject, restoreDiskToSr, restoreVm } from './vm-restore.js'
import type { restoreVmDifferential } from '../restore/index.js'

interface OrderBase {
  /** The pool to restore onto, with its password: the worker opens a session of its own. */
  readonly pool: PoolConnection
  /** The repository; its secret comes from the worker's environment (STRATA_PASSPHRASE...). */
  readonly repository: {
    readonly name: string
    readonly location: string
    /** What the caller recorded of it: a repository changed since is refused. */
    readonly expected?: RepositoryIdentity
  }
  /** A point id, or `<VM uuid or name>/<point id>`. */
  readonly pointId: string
  /** The SR's uuid or name. */
  readonly srUuid: string
  /** Facts the caller puts on the run's root task (names for its views). */
  readonly facts?: Record<string, unknown>
}

/** What to restore: a whole VM, or disk `disk` (0-based) into a new VDI. */
export type RestoreOrder =
  | (OrderBase & {
      readonly kind: 'vm'
      readonly start?: boolean
      readonly tag?: string
      /** false: a point with memory restores halted, without it (VmRestoreOptions.withMemory). */
      readonly withMemory?: boolean
      /**
       * Onto the point's own VM (halted, same disks): each disk rewritten where it differs, no new VM
       * (restore/differential-vm.ts). The SR and the other options are then unused.
       */
      readonly differential?: boolean
    })
  | (OrderBase & { readonly kind: 'disk'; readonly disk: number })

export type Restored = { readonly vmUuid: string; readonly vmName: string } | { readonly vdiUuid: string }

export interface RestoreResult {
  readonly runId: string
  readonly status: TaskStatus
  /** Why it did not succeed (the root task's error). */
  readonly error?: TaskError
  readonly restored?: Restored
}

export type RestoreDeps = Pick<RunDeps, 'connectPool' | 'openRepository' | 'limits'> & {
  readonly restoreVm: typeof restoreVm
  readonly restoreDiskToSr: typeof restoreDiskToSr
  readonly restoreVmDifferential: typeof restoreVmDifferential
}

export interface RestoreRunOptions {
  readonly order: RestoreOrder
  readonly runId: string
  /** Holds runs/ (logs). */
  readonly dataDir: string
  readonly signal: AbortSignal
  readonly onEvent?: (event: TaskEvent) => void
  /** Each VM and VDI as soon as it exists, so that whoever outlives this process can remove them. */
  readonly onCreated?: (object: RestoredObject) => void
  readonly deps: RestoreDeps
}

export async function runRestore(o: RestoreRunOptions): Promise<RestoreResult> {
  const log = await openRunLog(runDirs(o.dataDir).runs, o.runId)
  const emit = (event: TaskEvent): void => {
    log.append(event)
    o.onEvent?.(event)
  }
  // Every chunk of the restore listens to it (a signal of its own: the caller's keeps its limit).
  const signal = allowManyListeners(AbortSignal.any([o.signal]))
  const data = { runId: o.runId, ...o.order.facts, pid: process.pid }
  try {
    const restored = await runRootTask({ emit, signal }, 'restore', (task) => restore(task, o), data)
    return { runId: o.runId, status: 'success', restored }
  } catch (error) {
    return { runId: o.runId, status: statusOf(error), error: toTaskError(error) }
  } finally {
    log.close()
  }
}

async function restore(task: TaskContext, { order, deps, onCreated }: RestoreRunOptions): Promise<Restored> {
  const session = await deps.connectPool(order.pool, task.signal)
  try {
    const options = { expected: order.repository.expected, passphraseShared: false }
    const repository = await deps.openRepository(order.repository, task.signal, options)
    try {
      const limits = deps.limits(session.uuid)
      const common = { repository, pointId: order.pointId, srUuid: order.srUuid, onCreated }
      const restored =
        order.kind === 'disk'
          ? await deps.restoreDiskToSr(task, session.xapi, limits, { ...common, disk: order.disk })
          : order.differential === true
            ? await deps.restoreVmDifferential(task, session.xapi, {
                repository,
                pointId: order.pointId,
                onCreated,
              })
            : await deps.restoreVm(task, session.xapi, limits, { ...common, ...vmOptions(order) })
      task.set(restored)
      return restored
    } finally {
      await Promise.resolve(repository.store.close?.()).catch(() => undefined)
    }
  } finally {
    await session.close().catch(() => undefined)
  }
}

function vmOptions(order: Extract<RestoreOrder, { kind: 'vm' }>): {
  start: boolean
  tag?: string
  withMemory?: boolean
} {
  return {
    start: order.start === true,
    ...(order.tag === undefined ? {} : { tag: order.tag }),
    ...(order.withMemory === undefined ? {} : { withMemory: order.withMemory }),
  }
}
