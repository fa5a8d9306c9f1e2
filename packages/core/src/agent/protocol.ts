// The messages between an agent and its server, over one WebSocket the agent opens (outbound only, so
// it works behind NAT). JSON text frames, each at most AGENT_MAX_MESSAGE_BYTES and checked field by
// field on arrival: a peer that sends anything else is dropped with AGENT_MESSAGE_INVALID.
//
// The agent opens with 'hello' (its protocol version); the server answers 'welcome' or 'refused' and
// closes. The server then sends 'run' (a job, sealed for this agent: pool passwords and repository
// secrets are inside) and 'abort'; the agent answers with the run's task events and its end.
import type { RunResult, TaskEvent } from '../engine/index.js'
import { AgentMessageError } from './agent-errors.js'
import { checkDownloadToAgent, type DownloadToAgent } from './protocol-download.js'
import {
  parseRepositoryAnswer,
  parseRepositoryRequest,
  type RepositoryAnswer,
  type RepositoryRequest,
} from './protocol-repository.js'
import {
  checkRestored,
  checkRestoreToAgent,
  type RestoredMessage,
  type RestoreToAgent,
} from './protocol-restore.js'

/**
 * The one version this build speaks; a server refuses an agent of another, with a message on both sides.
 * 2: repository requests 'point', 'delete' and 'protect', and file browsing and downloads (an agent of
 * version 1 would not know them).
 */
export const AGENT_PROTOCOL_VERSION = 2
export const AGENT_MAX_MESSAGE_BYTES = 1024 * 1024
/** The WebSocket's path on the server. */
export const AGENT_CONNECT_PATH = '/api/agent/connect'
/** Close codes (application range) and what they mean. */
export const CLOSE_REFUSED = 4001
export const CLOSE_INVALID = 4002
export const CLOSE_REVOKED = 4003

export interface WireError {
  readonly code: string
  readonly message: string
}

export interface Hello {
  readonly type: 'hello'
  readonly protocol: number
  readonly version: string
  readonly name?: string
  /** This process of the agent: its messages are numbered from 1 (a new process starts again). */
  readonly session?: string
}

/** What a run says, before the outbox numbers it. */
export type RunMessage =
  | { readonly type: 'event'; readonly runId: string; readonly event: TaskEvent }
  | { readonly type: 'done'; readonly runId: string; readonly result: RunResult }
  | { readonly type: 'failed'; readonly runId: string; readonly error: WireError }
  | RestoredMessage

/** Run messages carry their number in the session: the server acknowledges them and drops replays. */
export type FromAgent = Hello | (RunMessage & { readonly seq: number }) | RepositoryAnswer

export type ToAgent =
  /** `acked`: the last message of this session the server has (the agent sends what follows again). */
  | { readonly type: 'welcome'; readonly agentId: string; readonly protocol: number; readonly acked: number }
  | { readonly type: 'ack'; readonly seq: number }
  | { readonly type: 'refused'; readonly code: string; readonly message: string }
  | { readonly type: 'run'; readonly runId: string; readonly sealed: string }
  | { readonly type: 'abort'; readonly runId: string; readonly reason: string }
  | RepositoryRequest
  | RestoreToAgent
  | DownloadToAgent

type Obj = Record<string, unknown> & { type: string }

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const short = (v: unknown, max = 200): v is string => typeof v === 'string' && v.length > 0 && v.length <= max
const RUN_ID = /^[0-9A-Za-z-]{1,64}$/

function field(o: Obj, key: string, ok: (v: unknown) => boolean): void {
  if (!ok(o[key])) throw new AgentMessageError(`'${o.type}' has no valid '${key}'`)
}

function decode(text: string): Obj {
  if (Buffer.byteLength(text) > AGENT_MAX_MESSAGE_BYTES)
    throw new AgentMessageError(`larger than ${AGENT_MAX_MESSAGE_BYTES} bytes`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new AgentMessageError('not JSON', error)
  }
  if (!isObj(value) || typeof value.type !== 'string')
    throw new AgentMessageError('not an object with a type')
  return value as Obj
}

const seq = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0
const runId = (v: unknown): boolean => typeof v === 'string' && RUN_ID.test(v)
const wireError = (v: unknown): boolean => isObj(v) && short(v.code, 100) && typeof v.message === 'string'
const wireEvent = (v: unknown): boolean =>
  isObj(v) && short(v.type, 20) && short(v.id, 200) && typeof v.time === 'number'
const wireResult = (v: unknown): boolean =>
  isObj(v) && runId(v.runId) && short(v.status, 20) && Array.isArray(v.vms)

/** A message from an agent, checked (what the server reads). */
export function parseFromAgent(text: string): FromAgent {
  const o = decode(text)
  switch (o.type) {
    case 'hello':
      field(o, 'protocol', (v) => Number.isInteger(v))
      field(o, 'version', (v) => short(v, 50))
      if (o.name !== undefined) field(o, 'name', (v) => short(v, 100))
      // Optional here: an agent of another protocol version is told so, not that its hello is invalid.
      if (o.session !== undefined) field(o, 'session', (v) => short(v, 64))
      return o as unknown as FromAgent
    case 'repository-answer':
      return parseRepositoryAnswer(o)
    case 'event':
    case 'done':
    case 'failed':
    case 'restored':
      field(o, 'seq', seq)
      break
    default:
      throw new AgentMessageError(`unknown type '${o.type.slice(0, 40)}'`)
  }
  switch (o.type) {
    case 'event':
      field(o, 'runId', runId)
      field(o, 'event', wireEvent)
      break
    case 'done':
      field(o, 'runId', runId)
      field(o, 'result', wireResult)
      break
    case 'failed':
      field(o, 'runId', runId)
      field(o, 'error', wireError)
      break
    case 'restored':
      checkRestored(o)
      break
  }
  return o as unknown as FromAgent
}

/** A message from the server, checked (what an agent reads). */
export function parseToAgent(text: string): ToAgent {
  const o = decode(text)
  switch (o.type) {
    case 'welcome':
      field(o, 'agentId', (v) => short(v, 100))
      field(o, 'protocol', (v) => Number.isInteger(v))
      field(o, 'acked', seq)
      break
    case 'ack':
      field(o, 'seq', seq)
      break
    case 'refused':
      field(o, 'code', (v) => short(v, 100))
      field(o, 'message', (v) => short(v, 2000))
      break
    case 'run':
      field(o, 'runId', runId)
      field(o, 'sealed', (v) => typeof v === 'string' && v.length < AGENT_MAX_MESSAGE_BYTES)
      break
    case 'abort':
      field(o, 'runId', runId)
      field(o, 'reason', (v) => typeof v === 'string' && v.length <= 2000)
      break
    case 'repository':
      return parseRepositoryRequest(o)
    case 'restore':
      checkRestoreToAgent(o)
      break
    case 'download':
      checkDownloadToAgent(o)
      break
    default:
      throw new AgentMessageError(`unknown type '${o.type.slice(0, 40)}'`)
  }
  return o as unknown as ToAgent
}
