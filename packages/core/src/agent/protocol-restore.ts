// The agent protocol's restore messages, apart from the runs' (protocol.ts wires them in). A restore onto
// an agent's pool is ordered like a run: 'restore' carries the engine's restore order and the worker's
// secrets sealed for that agent (seal.ts, the run id bound in), the agent runs it in a worker process of
// its own and answers with the run's task events ('event', numbered through the outbox as a run's are)
// and its end: 'restored' with the engine's RestoreResult, or 'failed'.
import type { RestoreOrder, RestoreResult } from '../engine/index.js'
import { AgentMessageError } from './agent-errors.js'

/** The server orders a restore; `sealed` opens (seal.ts) to a RestoreOrderSealed. */
export interface RestoreToAgent {
  readonly type: 'restore'
  readonly runId: string
  readonly sealed: string
}

/** What the server seals into a 'restore' order. */
export interface RestoreOrderSealed {
  readonly order: RestoreOrder
  /** The worker's secrets (repository passphrase, S3 keys): its environment, never its command line. */
  readonly env: Record<string, string>
}

/** A restore's end, as the agent's worker said it (before the outbox numbers it). */
export interface RestoredMessage {
  readonly type: 'restored'
  readonly runId: string
  readonly result: RestoreResult
}

const RUN_ID = /^[0-9A-Za-z-]{1,64}$/
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const short = (v: unknown, max: number): boolean => typeof v === 'string' && v.length > 0 && v.length <= max

function need(o: Record<string, unknown>, key: string, ok: boolean): void {
  if (!ok) throw new AgentMessageError(`'${String(o.type)}' has no valid '${key}'`)
}

/** The fields of a 'restore' order (the server's side: `sealed` is bounded by the frame's size). */
export function checkRestoreToAgent(o: Record<string, unknown>): void {
  need(o, 'runId', typeof o.runId === 'string' && RUN_ID.test(o.runId))
  need(o, 'sealed', typeof o.sealed === 'string' && o.sealed.length > 0)
}

/** The fields of a 'restored' message: a result of that very run, with a status and a bounded error. */
export function checkRestored(o: Record<string, unknown>): void {
  need(o, 'runId', typeof o.runId === 'string' && RUN_ID.test(o.runId))
  const r = o.result
  need(o, 'result', isObj(r) && r.runId === o.runId && short(r.status, 20))
  const { error, restored } = r as Record<string, unknown>
  if (error !== undefined)
    need(o, 'result.error', isObj(error) && short(error.code, 100) && typeof error.message === 'string')
  if (restored !== undefined)
    need(
      o,
      'result.restored',
      isObj(restored) &&
        (short(restored.vdiUuid, 100) ||
          (short(restored.vmUuid, 100) && typeof restored.vmName === 'string')),
    )
}
