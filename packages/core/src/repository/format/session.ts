// Session and GC-run records: the small JSON objects through which backups and GC coordinate without a
// lock (docs/repository-format.md, "Concurrency"). Pure codecs and key names.
import { PREFIX_GC, PREFIX_SESSIONS } from './constants.js'
import { JsonReader, encodeJson } from './json.js'

export interface SessionOpen {
  readonly vm: string
  readonly pointId: string
  /** Index keys of the base point: GC keeps their chunks while the session lives. */
  readonly bases: readonly string[]
  readonly started: string
}

export const sessionOpenKey = (session: string): string => `${PREFIX_SESSIONS}${session}/open`
export const sessionBeatKey = (session: string, seq: number): string =>
  `${PREFIX_SESSIONS}${session}/beat-${String(seq).padStart(8, '0')}`
export const sessionBorrowKey = (session: string, seq: number): string =>
  `${PREFIX_SESSIONS}${session}/borrow-${String(seq).padStart(8, '0')}`
export const gcSweepKey = (run: string): string => `${PREFIX_GC}${run}/sweep`

/** The session id of a key under sessions/, and the object's name within it. */
export function parseSessionKey(key: string): { session: string; name: string } | undefined {
  const parts = key.split('/')
  if (parts.length !== 3 || `${parts[0]}/` !== PREFIX_SESSIONS) return undefined
  return { session: parts[1]!, name: parts[2]! }
}

export function encodeSessionOpen(open: SessionOpen): Uint8Array {
  return encodeJson({ version: 1, ...open })
}

export function decodeSessionOpen(bytes: Uint8Array, what: string): SessionOpen {
  const r = JsonReader.parse(bytes, what)
  return {
    vm: r.string('vm'),
    pointId: r.string('pointId'),
    bases: r.strings('bases'),
    started: r.string('started'),
  }
}

/** Borrowed chunk ids: concatenated 32-byte ids. */
export function encodeBorrowed(ids: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(ids)
}

export interface GcSweep {
  readonly started: string
  /** After this instant the run deletes nothing more, so writers stop waiting for it. */
  readonly deadline: string
}

export function encodeGcSweep(sweep: GcSweep): Uint8Array {
  return encodeJson({ version: 1, ...sweep })
}

export function decodeGcSweep(bytes: Uint8Array, what: string): GcSweep {
  const r = JsonReader.parse(bytes, what)
  return { started: r.string('started'), deadline: r.string('deadline') }
}
