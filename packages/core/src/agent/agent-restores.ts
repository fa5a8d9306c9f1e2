// A restore the server ordered onto one of the agent's pools: the engine's restore in a worker process
// of the agent's (runRestoreInWorker, as the server runs its own), under the run id the server numbered,
// so that the task events the agent sends back land in that run's log and tree on the server. A worker
// that dies mid-restore is cleaned up after as on the server: the agent logs in to the pool with what the
// order carries (its URL, pinned fingerprint and password) and removes the VM and VDIs the worker had
// announced, noting it on the run.
import { join } from 'node:path'
import {
  poolClient,
  runRestoreInWorker,
  type RestoreResult,
  type RestoreWorkerOptions,
} from '../engine/index.js'
import type { XapiClient } from '../xapi/index.js'
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
  const { pool } = o.sealed.order
  let xapi: XapiClient | undefined
  try {
    const result = await (o.runRestore ?? runRestoreInWorker)({
      order: o.sealed.order,
      runId,
      dataDir: join(o.dataDir, 'engine'),
      // NAS remotes are mounted under the agent's own data directory, not the server's.
      env: { ...o.sealed.env, STRATA_HOME: o.dataDir },
      signal: o.signal,
      killAfterMs: 30_000,
      onEvent: (event) => o.emit({ type: 'event', runId, event }),
      // Made only if the worker dies leaving objects: it logs in on its first call. Without a password
      // (the server always sends one) there is none, and the leftovers are named on the run instead.
      xapi: () => {
        try {
          return (xapi ??= poolClient(pool, o.sealed.env))
        } catch {
          return undefined
        }
      },
    })
    return { type: 'restored', runId, result }
  } finally {
    await xapi?.close()
  }
}
