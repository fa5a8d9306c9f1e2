// What the NBD server serves: any random-access block source (a file, a lab VDI, a restore point).
import type { Extent } from '../codec/extent.js'

export interface BlockSource {
  /** Size in bytes. */
  readonly size: number
  /** Exactly `length` bytes at `offset` (within `size`). */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>
  /**
   * `base:allocation` extents (flags STATE_HOLE | STATE_ZERO) covering at least `offset` and at most
   * `offset + length`, in order. Absent: everything is reported as allocated data.
   */
  blockStatus?(offset: number, length: number, signal?: AbortSignal): Promise<Extent[]>
  /**
   * What `read` would return, if the source holds it in memory now; else undefined, and the caller
   * uses `read`. A server answers such requests at once, without a promise or a thread-pool round trip.
   */
  readNow?(offset: number, length: number): Uint8Array | undefined
  /** What `blockStatus` would return, if the source can tell without I/O now; else undefined. */
  blockStatusNow?(offset: number, length: number): Extent[] | undefined
  /** Present on writable sources only (a copy-on-write overlay, a scratch file). */
  write?(offset: number, data: Uint8Array, signal?: AbortSignal): Promise<void>
  flush?(signal?: AbortSignal): Promise<void>
  /** The server is done with a buffer `read` returned (sent or dropped): a source may reuse it. */
  release?(data: Uint8Array): void
}

/** An export the resolver found: its source and what to do when the connection that opened it ends. */
export interface ResolvedExport {
  readonly source: BlockSource
  /** Called once when the connection that resolved the export ends (the lab unplugs its dom0 VBD here). */
  release?(): void | Promise<void>
}

/** Maps an export name to what it serves; undefined means "no such export". */
export type ExportResolver = (name: string, signal: AbortSignal) => Promise<ResolvedExport | undefined>

/** A resolver over a fixed set of sources, shared by all connections. */
export function staticExports(exports: Record<string, BlockSource>): ExportResolver {
  return async (name) => {
    const source = Object.hasOwn(exports, name) ? exports[name] : undefined
    return source === undefined ? undefined : { source }
  }
}
