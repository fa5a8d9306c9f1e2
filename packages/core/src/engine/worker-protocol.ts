// Messages between a worker process and its parent (Node IPC, structured clone). A worker runs one job
// ('run') or one restore ('restore'), streams its task events and ends with its result ('done',
// 'restored') or why it could not run ('failed'). The parent owns the per-pool limits: a worker asks for
// a slot and waits for the grant, so runs in different worker processes still share one
// snapshot/transfer budget per pool. A worker that dies loses its slots. A restore announces each VM and
// VDI it creates ('created'), so that the parent removes them if the worker dies before it could.
import type { Job } from './job.js'
import type { RestoreOrder, RestoreResult } from './restore-run.js'
import type { RunOptions, RunResult } from './run.js'
import type { TaskError, TaskEvent } from './task-tree.js'
import type { RestoredObject } from './vm-restore.js'

export type LimitKind = 'snapshots' | 'transfers' | 'exports'

export type ToWorker =
  | {
      readonly type: 'run'
      readonly job: Job
      readonly scheduleId?: string
      /** A metadata job's files of the caller's (runJob's configFiles, configInfo). */
      readonly configFiles?: RunOptions['configFiles']
      readonly configInfo?: RunOptions['configInfo']
      readonly runId: string
      readonly dataDir: string
    }
  | {
      readonly type: 'restore'
      readonly order: RestoreOrder
      readonly runId: string
      readonly dataDir: string
    }
  | { readonly type: 'abort'; readonly reason: string }
  | { readonly type: 'granted'; readonly id: number }

export type FromWorker =
  | { readonly type: 'event'; readonly event: TaskEvent }
  | { readonly type: 'acquire'; readonly id: number; readonly pool: string; readonly kind: LimitKind }
  /** Gives back a granted slot, or withdraws a request still waiting. */
  | { readonly type: 'release'; readonly id: number }
  | { readonly type: 'created'; readonly object: RestoredObject }
  | { readonly type: 'done'; readonly result: RunResult }
  | { readonly type: 'restored'; readonly result: RestoreResult }
  | { readonly type: 'failed'; readonly error: TaskError }
