// Where a VDI snapshot's chunks come from once the changed-block path chose them: NBD when the pool
// offers it (dropped for the rest of the disk after a failure), else the VHD export. Each chunk is
// delivered once, whatever fallbacks happen on the way.
import type { NbdClient } from '../nbd/index.js'
import { errorMessage } from '../shared/index.js'
import type { BlockExtent, Ref, XapiClient } from '../xapi/index.js'
import { allChunks, mergeChunks } from './chunk-map.js'
import { chunkCountOf, chunkLengthOf, type ChunkRequest, type DiskChunk } from './disk-source.js'
import { canFallBack } from './errors.js'
import { nbdChunks, openVdiNbd } from './nbd-source.js'
import { changedChunksFromBat, vhdChunks } from './vhd-source.js'

export interface VdiBase {
  /** The base snapshot VDI (maybe a cbt_metadata VDI without data). */
  readonly vdi: Ref
  readonly hasData: boolean
  readonly cbt: boolean
}

export interface VdiReaderOptions {
  readonly xapi: XapiClient
  readonly vdi: Ref
  /** Undefined: a full read. */
  readonly base: VdiBase | undefined
  readonly preferNbd: boolean
  readonly nbdConnections?: number
  /** Over TLS, read straight into chunk buffers where Node allows it (default true). */
  readonly nbdTlsDirectReads?: boolean
}

export class VdiReader {
  readonly #o: VdiReaderOptions
  readonly #description: string
  readonly #size: number
  readonly #request: ChunkRequest
  readonly #delivered = new Set<number>()
  readonly #warnings: string[] = []
  #holes = 0
  #nbd: NbdClient | undefined
  #nbdTried = false
  #usedNbd = false

  constructor(options: VdiReaderOptions, description: string, size: number, request: ChunkRequest) {
    this.#o = options
    this.#description = description
    this.#size = size
    this.#request = request
  }

  warn(message: string, details?: Record<string, unknown>): void {
    this.#warnings.push(message)
    this.#request.events?.warn?.(message, details)
  }

  summary(): { via: string; chunks: number; holes: number; warnings: string[] } {
    const via = this.#usedNbd ? 'nbd' : 'vhd-export'
    return { via, chunks: this.#delivered.size - this.#holes, holes: this.#holes, warnings: this.#warnings }
  }

  /**
   * Reads these chunks (less those skipped or already delivered); over NBD, of those in `parts` only
   * their changed ranges (the VHD export, a fallback, has whole blocks only).
   */
  async *chunks(
    all: readonly number[],
    parts?: ReadonlyMap<number, readonly BlockExtent[]>,
  ): AsyncGenerator<DiskChunk> {
    const list = all.filter((i) => this.#wanted(i))
    const { chunkSize, signal } = this.#request
    // Announced first (a VHD import starts its upload now, while NBD opens); the VHD export, if NBD is
    // not there, announces what it carries.
    this.#announce(list, parts)
    const nbd = await this.#openNbd()
    if (nbd !== undefined) {
      try {
        const ordered = this.#request.ordered === true
        const read = nbdChunks(nbd, list, chunkSize, this.#size, signal, ordered, parts)
        for await (const chunk of read) yield this.#deliver(chunk)
        return
      } catch (error) {
        if (!canFallBack(error, signal)) throw error
        this.warn(`NBD read of ${this.#description} failed (${errorMessage(error)}): using the VHD export`)
        await this.#dropNbd()
      }
    }
    const base = this.#o.base?.hasData === true ? this.#o.base.vdi : undefined
    yield* this.stream(list, base)
  }

  /** The VHD export (a delta over `base` when given); then `needed` chunks it did not carry. */
  async *stream(
    needed: readonly number[],
    base: Ref | undefined = this.#o.base?.vdi,
  ): AsyncGenerator<DiskChunk> {
    const { chunkSize, signal } = this.#request
    // The stream's BAT names what it carries before its first block: announced (those still wanted).
    const planned = (chunks: readonly number[]): void => this.#announce(chunks.filter((i) => this.#wanted(i)))
    const disk = { chunkSize, size: this.#size, planned }
    for await (const chunk of vhdChunks(this.#o.xapi, this.#o.vdi, base, disk, signal)) {
      if (this.#wanted(chunk.index)) yield this.#deliver(chunk)
      else chunk.lease?.release()
    }
    const rest = needed.filter((i) => this.#wanted(i))
    if (rest.length === 0) return
    if (base !== undefined) return yield* this.stream(rest, undefined)
    // A full export leaves out blocks never written: they read as zeros.
    for (const index of rest) yield this.#deliver({ index, lease: undefined })
  }

  /**
   * Every chunk; with `skipUnallocated`, the BAT of a full VHD export names those worth reading. With a
   * complete request, the chunks left out are delivered as holes.
   */
  async *full(skipUnallocated: boolean): AsyncGenerator<DiskChunk> {
    const { chunkSize, signal } = this.#request
    const count = chunkCountOf(this.#size, chunkSize)
    const nbd = await this.#openNbd()
    if (nbd === undefined) yield* this.stream(this.#request.needed, undefined)
    else {
      let list = allChunks(count)
      if (skipUnallocated) {
        try {
          const { xapi, vdi } = this.#o
          list = mergeChunks(
            await changedChunksFromBat(xapi, vdi, undefined, chunkSize, count, signal),
            this.#request.needed,
          )
        } catch (error) {
          if (!canFallBack(error, signal)) throw error
          this.warn(
            `the BAT of ${this.#description} is unreadable (${errorMessage(error)}): reading every chunk`,
          )
        }
      }
      yield* this.chunks(list)
    }
    if (!this.#request.complete) return
    for (let index = 0; index < count; index++) {
      if (this.#wanted(index)) yield this.#deliver({ index, lease: undefined })
    }
  }

  async close(): Promise<void> {
    await this.#dropNbd()
  }

  #announce(list: readonly number[], parts?: ReadonlyMap<number, readonly BlockExtent[]>): void {
    const { chunkSize } = this.#request
    const length = (i: number): number =>
      parts?.get(i)?.reduce((n, e) => n + e.length, 0) ?? chunkLengthOf(i, this.#size, chunkSize)
    const bytes = list.reduce((n, i) => n + length(i), 0)
    this.#request.events?.planned?.(list.length, bytes, list, parts)
  }

  #wanted(index: number): boolean {
    return !this.#delivered.has(index) && this.#request.skip?.has(index) !== true
  }

  #deliver(chunk: DiskChunk): DiskChunk {
    this.#delivered.add(chunk.index)
    if (chunk.lease === undefined && chunk.parts === undefined) this.#holes++
    return chunk
  }

  async #openNbd(): Promise<NbdClient | undefined> {
    if (this.#nbdTried) return this.#nbd
    this.#nbdTried = true
    if (!this.#o.preferNbd) return undefined
    const { signal } = this.#request
    try {
      this.#nbd = await openVdiNbd(this.#o.xapi, this.#o.vdi, {
        connections: this.#o.nbdConnections,
        tlsDirectReads: this.#o.nbdTlsDirectReads,
        signal,
      })
      if (this.#nbd === undefined) this.warn('no network with an NBD purpose: data from the VHD export')
    } catch (error) {
      if (!canFallBack(error, signal)) throw error
      this.warn(`NBD unavailable for ${this.#description} (${errorMessage(error)}): using the VHD export`)
    }
    this.#usedNbd ||= this.#nbd !== undefined
    return this.#nbd
  }

  async #dropNbd(): Promise<void> {
    const nbd = this.#nbd
    this.#nbd = undefined
    await nbd?.close().catch(() => undefined)
  }
}
