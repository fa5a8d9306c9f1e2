// The child side of a job's worker process: it receives the job from its parent, runs it with the run
// effects it was built with and sends every task event back. Which effects is decided by the entry
// point that calls serveJobs: worker-main.ts (the real ones) or, in tests, engine/testing/.
import { errorCode, errorMessage } from '../shared/index.js'
import { RemoteLimits } from './remote-limits.js'
import { runJob, type RunDeps } from './run.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

export type Env = Record<string, string | undefined>
export type CreateRunDeps = (env: Env) => Omit<RunDeps, 'limits'>

const send = (message: FromWorker): void => {
  process.send?.(message)
}
/** Resolves once the message has left, so that exiting right after does not lose it. */
const sendLast = (message: FromWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })

/** Serves the one job its parent sends, with the effects `createDeps` makes from the environment. */
export function serveJobs(createDeps: CreateRunDeps): void {
  const limits = new RemoteLimits(send)
  const controller = new AbortController()
  process.on('message', (message: ToWorker) => {
    if (message.type === 'run') void start(message, createDeps, limits, controller.signal)
    else if (message.type === 'abort') controller.abort(new Error(message.reason))
    else if (message.type === 'granted') limits.granted(message.id)
  })
  // Ctrl-C on a terminal reaches the whole process group: the parent relays it as an 'abort' message,
  // so the worker ignores the signal itself and still gets to undo its side effects on the pool.
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => controller.abort(new Error('the worker received SIGTERM')))
  // The parent gone means nobody waits for this run: stop it (its side effects are undone on the way out).
  process.on('disconnect', () => controller.abort(new Error('the parent process went away')))
}

async function start(
  message: Extract<ToWorker, { type: 'run' }>,
  createDeps: CreateRunDeps,
  limits: RemoteLimits,
  signal: AbortSignal,
): Promise<void> {
  try {
    const result = await runJob({
      job: message.job,
      scheduleId: message.scheduleId,
      runId: message.runId,
      dataDir: message.dataDir,
      signal,
      onEvent: (event) => send({ type: 'event', event }),
      deps: { ...createDeps(process.env), limits: (pool) => limits.forPool(pool) },
    })
    await sendLast({ type: 'done', result })
  } catch (error) {
    await sendLast({ type: 'failed', error: { code: errorCode(error), message: errorMessage(error) } })
  }
  // Open handles (keep-alive sockets, timers) must not keep a finished worker alive.
  process.exit(0)
}
