// The messages about repositories assigned to an agent (docs/agents.md): the server never opens such a
// repository, it asks the agent. A 'repository' request (sealed for the agent: the passphrase and S3
// keys are inside) gets one 'repository-answer' with the same request id: a result or an error. Unlike a
// run's messages these are not numbered nor kept: a request whose link dies is answered "agent
// unreachable" on the server, and asked again by whoever needs it.
import type { MaintenanceKind, MaintenanceSettings } from '../engine/index.js'
import { AgentMessageError } from './agent-errors.js'

/** protocol.ts's WireError (not imported: protocol.ts imports this file). */
interface WireError {
  readonly code: string
  readonly message: string
}

export interface RepositoryRequest {
  readonly type: 'repository'
  readonly requestId: string
  readonly sealed: string
}

export type RepositoryAnswer =
  | { readonly type: 'repository-answer'; readonly requestId: string; readonly result: unknown }
  | { readonly type: 'repository-answer'; readonly requestId: string; readonly error: WireError }

/** Where the repository is and what opens it, as the agent sees it. */
export interface RepositoryTarget {
  readonly name: string
  /** A path on the agent's machine, an s3:// URL, a NAS remote (mounted under the agent's data). */
  readonly location: string
  /** STRATA_PASSPHRASE, the S3 keys: what the engine's opens read. */
  readonly env: Record<string, string>
  /** What the server recorded of it (RepositoryIdentity): another repository there is refused. */
  readonly expected?: unknown
}

/** What a 'repository' request asks, sealed with its request id as associated data. */
export type RepositoryOp = RepositoryTarget &
  (
    | { readonly op: 'open'; readonly create?: boolean; readonly force?: boolean }
    | { readonly op: 'points'; readonly vm?: string }
    | { readonly op: 'usage' }
    /** Finds a point for a restore: answers PointFound. */
    | { readonly op: 'point'; readonly pointId: string }
    /** Deletes a point (a protected one is refused, POINT_PROTECTED): answers { pointId }. */
    | { readonly op: 'delete'; readonly pointId: string }
    /** Protects a point from retention and deletes, or lifts it: answers { pointId }. */
    | { readonly op: 'protect'; readonly pointId: string; readonly on: boolean }
    /** File browsing of a point's disk (docs/restore.md) in the agent's session of it (agent-files.ts). */
    | { readonly op: 'files'; readonly pointId: string; readonly disk: number; readonly call: FileCall }
  )

/** What a file browsing request asks of the session: the answers are the file restore session's own. */
export type FileCall =
  | { readonly kind: 'filesystems' }
  | {
      readonly kind: 'list'
      readonly path: string
      readonly fs?: string
      readonly offset?: number
      readonly limit?: number
    }
  | {
      readonly kind: 'search'
      readonly q: string
      readonly fs?: string
      readonly under?: string
      readonly limit?: number
    }
  /** Ends the session (the user is done browsing): answers { closed }. */
  | { readonly kind: 'close' }

/** The answer to op 'point': the point's full reference, and the VM it restores (the run's name). */
export interface PointFound {
  readonly point: string
  readonly vmName: string
}

/** A 'run' order for a maintenance task of a repository of the agent (in place of a job). */
export interface MaintenanceOrder {
  readonly maintenance: RepositoryTarget & {
    readonly repositoryId: string
    readonly task: MaintenanceKind
    readonly settings: MaintenanceSettings
  }
}

/** The schedule tick a run of a job is for: an agent runs each once (agent-ticks.ts). */
export interface ScheduleTick {
  readonly jobId: string
  /** When the tick was due (ms). */
  readonly at: number
}

const REQUEST_ID = /^[0-9A-Za-z-]{1,64}$/
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function requestId(o: Record<string, unknown>): void {
  if (typeof o.requestId !== 'string' || !REQUEST_ID.test(o.requestId))
    throw new AgentMessageError(`'${String(o.type)}' has no valid 'requestId'`)
}

/** A 'repository' request, checked (the agent reads it). */
export function parseRepositoryRequest(o: Record<string, unknown>): RepositoryRequest {
  requestId(o)
  if (typeof o.sealed !== 'string' || o.sealed.length === 0)
    throw new AgentMessageError("'repository' has no valid 'sealed'")
  return o as unknown as RepositoryRequest
}

/** A 'repository-answer', checked (the server reads it): a result or an error, not both. */
export function parseRepositoryAnswer(o: Record<string, unknown>): RepositoryAnswer {
  requestId(o)
  const hasError = o.error !== undefined
  if (hasError === (o.result !== undefined))
    throw new AgentMessageError("'repository-answer' needs one of 'result' and 'error'")
  if (hasError) {
    const e = o.error
    const ok =
      isObj(e) &&
      typeof e.code === 'string' &&
      e.code.length > 0 &&
      e.code.length <= 100 &&
      typeof e.message === 'string'
    if (!ok) throw new AgentMessageError("'repository-answer' has no valid 'error'")
  }
  return o as unknown as RepositoryAnswer
}
