// The wire form of live events between instances (NOTIFY payloads), pure. PostgreSQL refuses a NOTIFY
// payload of 8000 bytes or more, so an event whose message would pass MAX_NOTIFY_BYTES travels by
// reference: the event is stored in a table and the notification names its row. What arrives is checked
// before use: another instance is trusted to be ours, but a malformed or oversized message is dropped
// with a ClusterError rather than reaching browsers.
import { ClusterError } from './cluster-error.js'
import type { ClusterEvent } from './coordinator.js'

/** Below PostgreSQL's 8000-byte NOTIFY limit, with room to spare. */
export const MAX_NOTIFY_BYTES = 7000
/** A stored event larger than this is refused (a task event is a few kB at most). */
export const MAX_EVENT_BYTES = 1024 * 1024

/** A notification: the event inline, or the id of its stored row. */
export type Notice =
  { readonly from: string; readonly event: ClusterEvent } | { readonly from: string; readonly ref: string }

/** The NOTIFY payload for an event, or undefined when it must be stored and sent by reference. */
export function inlineNotice(from: string, event: ClusterEvent): string | undefined {
  const text = JSON.stringify({ v: 1, from, event })
  return Buffer.byteLength(text) <= MAX_NOTIFY_BYTES ? text : undefined
}

export function refNotice(from: string, ref: string): string {
  return JSON.stringify({ v: 1, from, ref })
}

export function parseNotice(payload: string): Notice {
  const value = parseJson(payload, 'notification')
  if (!isRecord(value) || value.v !== 1 || typeof value.from !== 'string' || value.from.length > 200)
    throw bad('a notification without version 1 and a sender')
  if (typeof value.ref === 'string' && /^\d{1,19}$/.test(value.ref))
    return { from: value.from, ref: value.ref }
  return { from: value.from, event: checkEvent(value.event) }
}

export function parseStoredEvent(payload: string): ClusterEvent {
  if (Buffer.byteLength(payload) > MAX_EVENT_BYTES) throw bad(`a stored event over ${MAX_EVENT_BYTES} bytes`)
  return checkEvent(parseJson(payload, 'stored event'))
}

export function encodeEvent(event: ClusterEvent): string {
  return JSON.stringify(event)
}

function checkEvent(value: unknown): ClusterEvent {
  if (!isRecord(value)) throw bad('an event that is not an object')
  if (value.type === 'task' && typeof value.runId === 'string' && isRecord(value.event))
    return value as unknown as ClusterEvent
  if (value.type === 'run' && isRecord(value.row) && typeof value.row.runId === 'string')
    return value as unknown as ClusterEvent
  if (value.type === 'jobs') return { type: 'jobs' }
  throw bad(`an event of unknown type '${String(value.type).slice(0, 40)}'`)
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw bad(`a ${what} that is not JSON`, error)
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function bad(what: string, cause?: unknown): ClusterError {
  return new ClusterError('CLUSTER_BAD_EVENT', `dropped ${what} from another server instance`, { cause })
}
