// Each job runs in its own worker process (child_process.fork of worker-main), so a crash, a leak or a
// slow job does not stop the others. The parent streams the worker's task events to its caller, grants
// pool-limit slots from its own registry (shared by every worker it runs) and, when a worker dies
// without finishing, ends the run in the log as interrupted and takes its slots back.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { StrataError, type Semaphore } from '../shared/index.js'
import type { Job } from './job.js'
import type { LimitsRegistry } from './limits-registry.js'
import { processLimits } from './limits-registry.js'
import { appendRunEvent } from './run-log.js'
import { makeRunId, runDirs, type RunResult } from './run.js'
import type { TaskEvent } from './task-tree.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

export class WorkerError extends StrataError {}

export interface WorkerRunOptions {
  readonly job: Job
  readonly scheduleId?: string
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

/** Runs the job in a worker process with the real effects (worker-main). */
export function runJobInWorker(o: WorkerRunOptions): Promise<RunResult> {
  // Under tests and tsx the engine runs from its TypeScript sources; built, from dist/.
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
  return runJobWithEntry(o, new URL(`./worker-main.${ext}`, import.meta.url))
}

/**
 * Runs the job in a worker process started from `entry`, a module that calls serveJobs with the effects
 * it wants. Not exported by the engine's index: tests reach it through engine/testing/ to run workers
 * with fake effects, which the worker itself can neither be told to load nor find on its own.
 */
export function runJobWithEntry(o: WorkerRunOptions, entry: URL): Promise<RunResult> {
  const runId = makeRunId()
  const child = forkRunner(entry, o.env)
  const slots = new SlotBroker(o.limits ?? processLimits, (m) => send(child, m))
  return new Promise<RunResult>((resolve, reject) => {
    let outcome: { result?: RunResult; error?: WorkerError } | undefined
    const onAbort = (): void => {
      send(child, { type: 'abort', reason: String(o.signal.reason ?? 'aborted') })
      setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 30_000).unref()
    }
    o.signal.addEventListener('abort', onAbort, { once: true })
    child.on('message', (message: FromWorker) => {
      if (message.type === 'event') o.onEvent?.(message.event)
      else if (message.type === 'acquire') slots.acquire(message.id, message.pool, message.kind)
      else if (message.type === 'release') slots.release(message.id)
      else if (message.type === 'done') outcome = { result: message.result }
      else if (message.type === 'failed')
        outcome = { error: new WorkerError(message.error.code, message.error.message) }
    })
    // A worker that cannot start never exits; a message to one that just died is lost, which the exit
    // handler accounts for. Either way the parent must not crash on the 'error' event.
    child.on('error', (error) => {
      if (child.pid !== undefined) return
      o.signal.removeEventListener('abort', onAbort)
      reject(
        new WorkerError('WORKER_FAILED', `cannot start the worker of job '${o.job.id}': ${error.message}`),
      )
    })
    child.once('exit', (code, signal) => {
      o.signal.removeEventListener('abort', onAbort)
      slots.releaseAll()
      if (outcome?.result !== undefined) return resolve(outcome.result)
      if (outcome?.error !== undefined) return reject(outcome.error)
      const how = signal === null ? `exit code ${code}` : signal
      void interruptRun(o, runId, how).finally(() =>
        reject(
          new WorkerError(
            'WORKER_EXITED',
            `the worker of job '${o.job.id}' stopped (${how}) during run ${runId}`,
          ),
        ),
      )
    })
    o.onStart?.({ pid: child.pid ?? 0, runId })
    const start: ToWorker = {
      type: 'run',
      job: o.job,
      scheduleId: o.scheduleId,
      runId,
      dataDir: o.dataDir,
    }
    send(child, start)
  })
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

/** The worker is gone without an end: its run ends as interrupted in the log, saying how. */
async function interruptRun(o: WorkerRunOptions, runId: string, how: string): Promise<void> {
  const event: TaskEvent = {
    type: 'end',
    id: '0',
    status: 'interrupted',
    error: { code: 'WORKER_EXITED', message: `the worker process stopped (${how})` },
    time: Date.now(),
  }
  await appendRunEvent(runDirs(o.dataDir).runs, runId, event).catch(() => undefined)
  o.onEvent?.(event)
}

/** Grants slots of the parent's semaphores to one worker and takes them all back when it dies. */
class SlotBroker {
  readonly #waiting = new Map<number, AbortController>()
  readonly #held = new Map<number, Semaphore>()
  #closed = false

  constructor(
    readonly limits: LimitsRegistry,
    readonly grant: (message: ToWorker) => void,
  ) {}

  acquire(id: number, pool: string, kind: 'snapshots' | 'transfers' | 'exports'): void {
    const semaphore = this.limits.forPool(pool)[kind]
    const controller = new AbortController()
    this.#waiting.set(id, controller)
    semaphore.acquire(controller.signal).then(
      () => {
        this.#waiting.delete(id)
        if (this.#closed) return semaphore.release()
        this.#held.set(id, semaphore)
        this.grant({ type: 'granted', id })
      },
      () => this.#waiting.delete(id),
    )
  }

  release(id: number): void {
    this.#waiting.get(id)?.abort()
    this.#waiting.delete(id)
    this.#held.get(id)?.release()
    this.#held.delete(id)
  }

  releaseAll(): void {
    this.#closed = true
    for (const id of [...this.#waiting.keys(), ...this.#held.keys()]) this.release(id)
  }
}
