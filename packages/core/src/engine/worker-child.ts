// The child side of a worker process: it receives one job or one restore from its parent, runs it with
// the effects it was built with and sends every task event back. Which effects is decided by the entry
// point that calls serveJobs: worker-main.ts (the real ones) or, in tests, engine/testing/.
import { errorCode, errorMessage } from '../shared/index.js'
import { RemoteLimits } from './remote-limits.js'
import { runRestore, type RestoreDeps } from './restore-run.js'
import { runJob, type RunDeps } from './run.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

export type Env = Record<string, string | undefined>
/** The effects of a worker, made from its environment: those of backup runs and of restores. */
export type WorkerDeps = Omit<RunDeps, 'limits'> & Omit<RestoreDeps, 'limits'>
export type CreateRunDeps = (env: Env) => WorkerDeps

type Ipc = Pick<NodeJS.Process, 'connected' | 'send'>
const ignore = (): void => undefined

/**
 * The worker's way to its parent. Once the parent is gone (killed), sending throws
 * ERR_IPC_CHANNEL_CLOSED, or, before the channel is seen closed, fails to write (EPIPE), which Node
 * raises as an 'error' event on the process unless the send has a callback: a worker that died of
 * either would skip the undo of its run (its snapshot left on the pool). Nobody listens any more, so
 * what it would have said is dropped; the run stops through the 'disconnect' handler.
 */
export function parentLink(ipc: Ipc = process): {
  send: (message: FromWorker) => void
  /** Resolves once the message has left, so that exiting right after does not lose it. */
  sendLast: (message: FromWorker) => Promise<void>
} {
  return {
    send: (message) => void (ipc.connected && ipc.send?.(message, undefined, {}, ignore)),
    sendLast: (message) =>
      new Promise((resolve) => {
        if (ipc.send === undefined || !ipc.connected) return resolve()
        ipc.send(message, undefined, {}, () => resolve())
      }),
  }
}
const { send, sendLast } = parentLink()

/** Serves the one job or restore its parent sends, with the effects `createDeps` makes from the environment. */
export function serveJobs(createDeps: CreateRunDeps): void {
  const limits = new RemoteLimits(send)
  const controller = new AbortController()
  const deps = (): RunDeps & RestoreDeps => ({
    ...createDeps(process.env),
    limits: (pool) => limits.forPool(pool),
  })
  process.on('message', (message: ToWorker) => {
    if (message.type === 'run') void serve(() => startJob(message, deps(), controller.signal))
    else if (message.type === 'restore') void serve(() => startRestore(message, deps(), controller.signal))
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

/** Runs the work, sends its last message, and exits. */
async function serve(work: () => Promise<FromWorker>): Promise<void> {
  let last: FromWorker
  try {
    last = await work()
  } catch (error) {
    last = { type: 'failed', error: { code: errorCode(error), message: errorMessage(error) } }
  }
  await sendLast(last)
  // Open handles (keep-alive sockets, timers) must not keep a finished worker alive.
  process.exit(0)
}

async function startJob(
  message: Extract<ToWorker, { type: 'run' }>,
  deps: RunDeps,
  signal: AbortSignal,
): Promise<FromWorker> {
  const result = await runJob({
    job: message.job,
    scheduleId: message.scheduleId,
    configFiles: message.configFiles,
    configInfo: message.configInfo,
    runId: message.runId,
    dataDir: message.dataDir,
    signal,
    onEvent: (event) => send({ type: 'event', event }),
    deps,
  })
  return { type: 'done', result }
}

async function startRestore(
  message: Extract<ToWorker, { type: 'restore' }>,
  deps: RestoreDeps,
  signal: AbortSignal,
): Promise<FromWorker> {
  const result = await runRestore({
    order: message.order,
    runId: message.runId,
    dataDir: message.dataDir,
    signal,
    onEvent: (event) => send({ type: 'event', event }),
    onCreated: (object) => send({ type: 'created', object }),
    deps,
  })
  return { type: 'restored', result }
}
