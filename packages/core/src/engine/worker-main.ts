// The entry point of a job's worker process (forked by worker.ts): it receives the job, runs it with the
// real effects (XAPI pools, repositories, the data path) and sends every task event to its parent. This
// is a composition root: the one place in the engine that opens concrete stores.
import { pathToFileURL } from 'node:url'
import type { Repository } from '../repository/index.js'
import { openStore } from '../storage/index.js'
import { errorCode, errorMessage } from '../shared/index.js'
import type { RepositoryTarget } from './job.js'
import { connectPool } from './pool-session.js'
import { RemoteLimits } from './remote-limits.js'
import { openRepositoryWithEnv } from './repository-access.js'
import { runJob, type RunDeps } from './run.js'
import { backupVm } from './vm-backup.js'
import type { FromWorker, ToWorker } from './worker-protocol.js'

type Env = Record<string, string | undefined>

const send = (message: FromWorker): void => {
  process.send?.(message)
}
/** Resolves once the message has left, so that exiting right after does not lose it. */
const sendLast = (message: FromWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) return resolve()
    process.send(message, undefined, {}, () => resolve())
  })
const limits = new RemoteLimits(send)
const controller = new AbortController()

export function realRunDeps(env: Env): Omit<RunDeps, 'limits'> {
  return {
    connectPool: (pool, signal) => connectPool(pool, env, signal),
    openRepository: (target, signal) => openRepository(target, env, signal),
    backupVm,
  }
}

async function openRepository(target: RepositoryTarget, env: Env, signal: AbortSignal): Promise<Repository> {
  const store = await openStore(target.location, env, { signal })
  return openRepositoryWithEnv(store, target.location, env, signal)
}

async function start(message: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  try {
    const base: Omit<RunDeps, 'limits'> =
      message.depsModule === undefined
        ? realRunDeps(process.env)
        : await (
            (await import(pathToFileURL(message.depsModule).href)) as {
              createRunDeps: (env: Env) => Omit<RunDeps, 'limits'>
            }
          ).createRunDeps(process.env)
    const result = await runJob({
      job: message.job,
      scheduleId: message.scheduleId,
      runId: message.runId,
      dataDir: message.dataDir,
      signal: controller.signal,
      onEvent: (event) => send({ type: 'event', event }),
      deps: { ...base, limits: (pool) => limits.forPool(pool) },
    })
    await sendLast({ type: 'done', result })
  } catch (error) {
    await sendLast({ type: 'failed', error: { code: errorCode(error), message: errorMessage(error) } })
  }
  // Open handles (keep-alive sockets, timers) must not keep a finished worker alive.
  process.exit(0)
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'run') void start(message)
  else if (message.type === 'abort') controller.abort(new Error(message.reason))
  else if (message.type === 'granted') limits.granted(message.id)
})
// Ctrl-C on a terminal reaches the whole process group: the parent relays it as an 'abort' message,
// so the worker ignores the signal itself and still gets to undo its side effects on the pool.
process.on('SIGINT', () => {})
process.on('SIGTERM', () => controller.abort(new Error('the worker received SIGTERM')))
// The parent gone means nobody waits for this run: stop it (its side effects are undone on the way out).
process.on('disconnect', () => controller.abort(new Error('the parent process went away')))
