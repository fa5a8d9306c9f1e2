// Each job run and each restore runs in its own worker process (child_process.fork of worker-main), so a
// crash, a leak or a slow run does not stop the others nor the process that started it (the server).
// The parent streams the worker's task events to its caller, grants pool-limit slots from its own
// registry (shared by every worker it runs) and, when a worker dies without finishing, ends the run in
// the log as interrupted and takes its slots back; for a restore, it first removes the VM and VDIs the
// worker had announced (a worker that is killed cannot undo its own side effects).
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { StrataError, errorMessage } from '../shared/index.js'
import type { XapiClient } from '../xapi/index.js'
import type { Job } from './job.js'
import type { LimitsRegistry } from './limits-registry.js'
import { processLimits } from './limits-registry.js'
import type { RestoreOrder, RestoreResult } from './restore-run.js'
import { appendRunEvent } from './run-log.js'
import { makeRunId, runDirs, type RunOptions, type RunResult } from './run.js'
import type { TaskEvent } from './task-tree.js'
import { removeRestored, type RestoredObject } from './vm-restore.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'
import { SlotBroker } from './worker-slots.js'

export class WorkerError extends StrataError {}

/** What every run in a worker takes. */
export interface WorkerOptions {
  /** Holds runs/ (logs), locks/ and state/. */
  readonly dataDir: string
  readonly signal: AbortSignal
  readonly onEvent?: (event: TaskEvent) => void
  /** Called once the worker runs, with its pid and the run's id. */
  readonly onStart?: (info: { pid: number; runId: string }) => void
  /** Secrets (STRATA_XAPI_PASSWORD, STRATA_PASSPHRASE) go to the worker here, never on its command line. */
  readonly env?: Record<string, string | undefined>
  readonly limits?: LimitsRegistry
  /** After an abort, how long the worker has to clean up before it is killed. */
  readonly killAfterMs?: number
}

export interface WorkerRunOptions extends WorkerOptions {
  readonly job: Job
  readonly scheduleId?: string
  /** A metadata job's files of the caller's (the server's configuration), sent over IPC. */
  readonly configFiles?: RunOptions['configFiles']
  readonly configInfo?: RunOptions['configInfo']
  /** The run's id when the caller names it (an agent runs what its server numbered); a new one otherwise. */
  readonly runId?: string
}

export interface RestoreWorkerOptions extends WorkerOptions {
  readonly order: RestoreOrder
  /**
   * The pool's client in this process: what a worker that died had created (a half-restored VM, its
   * VDIs) is removed with it before the run ends. Without one, they stay and the run's log names them.
   */
  readonly xapi?: () => XapiClient | undefined
  /** The run's id when the caller names it (an agent runs what its server numbered); a new one otherwise. */
  readonly runId?: string
}

/** Runs the job in a worker process with the real effects (worker-main). */
export function runJobInWorker(o: WorkerRunOptions): Promise<RunResult> {
  return runJobWithEntry(o, entryUrl('worker-main'))
}

/** Runs the restore in a worker process with the real effects (worker-main). */
export function runRestoreInWorker(o: RestoreWorkerOptions): Promise<RestoreResult> {
  return runRestoreWithEntry(o, entryUrl('worker-main'))
}

/** A module of this folder: its TypeScript source under tests and tsx, its .js file once built. */
export function entryUrl(name: string, base: string = import.meta.url): URL {
  return new URL(`./${name}.${base.endsWith('.ts') ? 'ts' : 'js'}`, base)
}

/**
 * Runs the job in a worker process started from `entry`, a module that calls serveJobs with the effects
 * it wants. Not exported by the engine's index: tests reach it through engine/testing/ to run workers
 * with fake effects, which the worker itself can neither be told to load nor find on its own.
 */
export function runJobWithEntry(o: WorkerRunOptions, entry: URL): Promise<RunResult> {
  const runId = o.runId ?? makeRunId()
  return supervise(o, entry, {
    runId,
    label: `job '${o.job.id}'`,
    start: {
      ...{ type: 'run', job: o.job, scheduleId: o.scheduleId, runId, dataDir: o.dataDir },
      ...(o.configFiles === undefined ? {} : { configFiles: o.configFiles, configInfo: o.configInfo }),
    },
    resultOf: (message) => (message.type === 'done' ? message.result : undefined),
  })
}

/** The restore in a worker process started from `entry` (see runJobWithEntry). */
export function runRestoreWithEntry(o: RestoreWorkerOptions, entry: URL): Promise<RestoreResult> {
  const runId = o.runId ?? makeRunId()
  const created: RestoredObject[] = []
  return supervise(o, entry, {
    runId,
    label: `the restore of point '${o.order.pointId}'`,
    start: { type: 'restore', order: o.order, runId, dataDir: o.dataDir },
    resultOf: (message) => (message.type === 'restored' ? message.result : undefined),
    onMessage: (message) => {
      if (message.type === 'created') created.push(message.object)
    },
    afterCrash: (note) => removeLeftovers(o.xapi?.(), created, note),
  })
}

/** One run in one worker process, as the parent sees it. */
interface Supervised<R> {
  readonly runId: string
  /** Names the run in errors: "job 'nightly'", "the restore of point '…'". */
  readonly label: string
  readonly start: ToWorker
  /** The result, when the message is the worker's last. */
  readonly resultOf: (message: FromWorker) => R | undefined
  readonly onMessage?: (message: FromWorker) => void
  /** After the worker died without a result: undo what it left, noting it on the run's root task. */
  readonly afterCrash?: (note: (event: TaskEvent) => Promise<void>) => Promise<void>
}

type Outcome<R> = { readonly result: R } | { readonly error: WorkerError }

function supervise<R>(o: WorkerOptions, entry: URL, run: Supervised<R>): Promise<R> {
  const child = forkRunner(entry, o.env)
  const slots = new SlotBroker(o.limits ?? processLimits, (m) => send(child, m))
  const onAbort = (): void => stopWorker(child, o)
  o.signal.addEventListener('abort', onAbort, { once: true })
  let outcome: Outcome<R> | undefined
  child.on('message', (message: FromWorker) => {
    outcome = relay(message, o, run, slots) ?? outcome
  })
  return new Promise<R>((resolve, reject) => {
    // A worker that cannot start never exits; a message to one that just died is lost, which the exit
    // handler accounts for. Either way the parent must not crash on the 'error' event.
    child.on('error', (error) => {
      if (child.pid !== undefined) return
      o.signal.removeEventListener('abort', onAbort)
      reject(new WorkerError('WORKER_FAILED', `cannot start the worker of ${run.label}: ${error.message}`))
    })
    // 'close', not 'exit': the messages a dying worker sent last are read before it counts as gone.
    child.once('close', (code, signal) => {
      o.signal.removeEventListener('abort', onAbort)
      slots.releaseAll()
      if (outcome !== undefined) return 'result' in outcome ? resolve(outcome.result) : reject(outcome.error)
      const how = signal === null ? `exit code ${code}` : signal
      const message = `the worker of ${run.label} stopped (${how}) during run ${run.runId}`
      void crashed(o, run, how).finally(() => reject(new WorkerError('WORKER_EXITED', message)))
    })
    o.onStart?.({ pid: child.pid ?? 0, runId: run.runId })
    send(child, run.start)
  })
}

/** Passes one message of the worker on; the run's outcome when the message is the worker's last. */
function relay<R>(
  message: FromWorker,
  o: WorkerOptions,
  run: Supervised<R>,
  slots: SlotBroker,
): Outcome<R> | undefined {
  const result = run.resultOf(message)
  if (result !== undefined) return { result }
  if (message.type === 'failed') return { error: new WorkerError(message.error.code, message.error.message) }
  if (message.type === 'event') o.onEvent?.(message.event)
  else if (message.type === 'acquire') slots.acquire(message.id, message.pool, message.kind)
  else if (message.type === 'release') slots.release(message.id)
  else run.onMessage?.(message)
  return undefined
}

/** Asks the worker to stop (it undoes its side effects), and kills it if it takes too long. */
function stopWorker(child: ChildProcess, o: WorkerOptions): void {
  const reason: unknown = o.signal.reason
  send(child, {
    type: 'abort',
    reason: reason instanceof Error ? reason.message : String(reason ?? 'aborted'),
  })
  setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 30_000).unref()
}

function forkRunner(entry: URL, env: Record<string, string | undefined> | undefined): ChildProcess {
  const fromSource = entry.pathname.endsWith('.ts')
  return fork(fileURLToPath(entry), [], {
    env: { ...process.env, ...env },
    execArgv: fromSource ? ['--import', 'tsx', '--conditions=strata-source'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  })
}

function send(child: ChildProcess, message: ToWorker): void {
  if (child.connected) child.send(message)
}

/** The worker is gone without an end: what it left is undone, then its run ends as interrupted, saying how. */
async function crashed<R>(o: WorkerOptions, run: Supervised<R>, how: string): Promise<void> {
  const note = async (event: TaskEvent): Promise<void> => {
    await appendRunEvent(runDirs(o.dataDir).runs, run.runId, event).catch(() => undefined)
    o.onEvent?.(event)
  }
  await run.afterCrash?.(note).catch(() => undefined)
  await note({
    type: 'end',
    id: '0',
    status: 'interrupted',
    error: { code: 'WORKER_EXITED', message: `the worker process stopped (${how})` },
    time: Date.now(),
  })
}

/** Removes the VM and VDIs a restore's worker created before it died, noting each outcome. */
async function removeLeftovers(
  xapi: XapiClient | undefined,
  created: readonly RestoredObject[],
  note: (event: TaskEvent) => Promise<void>,
): Promise<void> {
  if (created.length === 0) return
  const names = created.map((c) => `${c.class} ${c.ref}`)
  const line = (type: 'info' | 'warning', message: string, data: Record<string, unknown>) =>
    note({ type, id: '0', message, data, time: Date.now() })
  if (xapi === undefined)
    return line('warning', `the restore left ${names.join(', ')} on the pool: no connection to remove them`, {
      left: names,
    })
  const failed = await removeRestored(xapi, created, AbortSignal.timeout(120_000))
  const removed = names.filter((_, i) => !failed.some((f) => f.object === created[i]))
  if (removed.length > 0)
    await line('info', `removed what the restore had created: ${removed.join(', ')}`, { removed })
  for (const { object, error } of failed)
    await line('warning', `could not remove ${object.class} ${object.ref}: ${errorMessage(error)}`, {
      left: [`${object.class} ${object.ref}`],
    })
}
