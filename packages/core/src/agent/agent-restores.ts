// A restore the server ordered onto one of the agent's pools: the engine's restore in a worker process
// of the agent's (runRestoreInWorker, as the server runs its own), under the run id the server numbered,
// so that the task events the agent sends back land in that run's log and tree on the server.
import { join } from 'node:path'
import { runRestoreInWorker, type RestoreResult, type RestoreWorkerOptions } from '../engine/index.js'
import type { RestoreOrderSealed } from './protocol-restore.js'
import type { RunMessage } from './protocol.js'

export type RunRestore = (o: RestoreWorkerOptions) => Promise<RestoreResult>

export interface AgentRestoreOptions {
  readonly runId: string
  readonly sealed: RestoreOrderSealed
  readonly dataDir: string
  readonly signal: AbortSignal
  readonly emit: (m: RunMessage) => void
  readonly runRestore?: RunRestore
}

/** Runs the restore; resolves with its last message ('restored'), rejects as the worker failed. */
export async function runAgentRestore(o: AgentRestoreOptions): Promise<RunMessage> {
  const { runId } = o
  const result = await (o.runRestore ?? runRestoreInWorker)({
    order: o.sealed.order,
    runId,
    dataDir: join(o.dataDir, 'engine'),
    // NAS remotes are mounted under the agent's own data directory, not the server's.
    env: { ...o.sealed.env, STRATA_HOME: o.dataDir },
    signal: o.signal,
    killAfterMs: 30_000,
    onEvent: (event) => o.emit({ type: 'event', runId, event }),
  })
  return { type: 'restored', runId, result }
}
