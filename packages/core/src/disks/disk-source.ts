// The disk-source seam: where a disk's bytes come from, whatever the protocol. A source is asked for the
// chunks of one chunk size that a consumer needs; it decides which are worth reading (changed since a
// base, or allocated at all), says so (`planned`), and yields each chunk's bytes lent (a Lease) or as a
// hole. How it got them (CBT or a VHD BAT, NBD or the VHD export, an allocation map or a full read) is
// its business: it reports the path it took and every fallback as a warning. Implemented by a VDI
// snapshot over XAPI (vdi-source.ts), a raw file (file-source.ts) and a repository's restore point
// (point-source.ts); replication, XO import and mirrors are sources of the same shape.
import type { Lease } from '../shared/index.js'

/** One chunk of the disk: its bytes lent until released, or none when it reads as zeros. */
export interface DiskChunk {
  readonly index: number
  /**
   * Exactly the chunk's length (the last chunk of a disk may be short); undefined: all zeros, unless
   * `parts` is set.
   */
  readonly lease: Lease | undefined
  /**
   * Only for a request with `partial`: the chunk changed only in these byte ranges (ascending, sector
   * multiples, relative to the chunk's start), each lent; the rest of it is as the base has it.
   */
  readonly parts?: readonly ChunkPart[]
}

/** A changed byte range of a chunk, its bytes lent until released. */
export interface ChunkPart {
  /** Bytes from the chunk's start. */
  readonly offset: number
  readonly lease: Lease
}

export interface ChunkRequest {
  readonly chunkSize: number
  /** Chunks to deliver whatever the source knows (bad chunks a verify found, a resized tail). */
  readonly needed: readonly number[]
  /** Chunks never to deliver (already stored by an interrupted attempt). */
  readonly skip?: ReadonlySet<number>
  /**
   * Every chunk the source would leave out must be delivered anyway (as a hole when it reads as zeros):
   * the consumer starts from an older index, whose chunks a full read does not otherwise replace.
   */
  readonly complete: boolean
  /**
   * Deliver the chunks of each planned list in ascending order (a target that streams them into one
   * ordered format, such as a VHD import, asks for it); default: as they come.
   */
  readonly ordered?: boolean
  /**
   * The consumer writes over the base's state and takes chunks in parts: a source that knows which parts
   * of a changed chunk changed (CBT: 64 KiB) reads and delivers only those (`DiskChunk.parts`).
   */
  readonly partial?: boolean
  readonly signal: AbortSignal
  readonly events?: SourceEvents
}

export interface SourceEvents {
  /** A fallback or a degraded path: the message names the disk and the reason. */
  warn?(message: string, details?: Record<string, unknown>): void
  /**
   * The chunks about to be read (more may follow after a fallback), for progress; `indexes` names them,
   * ascending, when the source knows them before reading (a target that must announce them first, such
   * as a VHD import's block table, waits for it); `parts`, of chunks it will deliver in parts, the byte
   * ranges (relative to the chunk's start, ascending), for a target that must size its upload first.
   */
  planned?(
    chunks: number,
    bytes: number,
    indexes?: readonly number[],
    parts?: ReadonlyMap<number, readonly { offset: number; length: number }[]>,
  ): void
}

/** What a source did, once its chunks have all been delivered. */
export interface SourceOutcome {
  /** How the chunks to read were chosen: 'cbt', 'vhd-bat', 'vhd-stream', 'full', 'allocation-map'... */
  readonly path: string
  /** Where their bytes came from: 'nbd', 'vhd-export', 'file', 'repository'... */
  readonly via: string
  /** Chunks delivered with bytes, and holes delivered. */
  readonly chunks: number
  readonly holes: number
  readonly warnings: readonly string[]
}

export interface DiskSource {
  /** Names the disk in messages ("VDI 1234...", "file /x.raw"). */
  readonly description: string
  /** Bytes. */
  readonly size: number
  /**
   * Yields the chunks to store, each at most once, in no particular order. A chunk's lease must be
   * released (the source may wait for that before it reads more). Runs once.
   */
  chunks(request: ChunkRequest): AsyncIterable<DiskChunk>
  /** Set once chunks() has finished. */
  readonly outcome: SourceOutcome | undefined
  /** Releases connections and files; safe at any time and more than once. */
  close(): Promise<void>
}

/** Chunk count of a disk of `size` bytes. */
export const chunkCountOf = (size: number, chunkSize: number): number => Math.ceil(size / chunkSize)

/** Length of chunk `index` of a disk of `size` bytes. */
export const chunkLengthOf = (index: number, size: number, chunkSize: number): number =>
  Math.min(chunkSize, size - index * chunkSize)
