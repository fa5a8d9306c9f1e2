// A restore point's disk as a disk source: what a mirror (one repository into another) or a replication
// reads. Allocated chunks are those with a stored id; over a base point, only those whose id differs.
// The bytes are the repository reader's own leases (its shared buffers, decoded by its workers).
import type { DiskReader } from '../repository/index.js'
import { lease as lent } from '../shared/index.js'
import { mergeChunks } from './chunk-map.js'
import type { ChunkRequest, DiskChunk, DiskSource, SourceOutcome } from './disk-source.js'
import { DiskError } from './errors.js'

export interface PointSourceOptions {
  /** The disk of an older point the consumer already holds: only chunks that differ are delivered. */
  readonly base?: DiskReader
  /** Chunks being read at once. Default 8. */
  readonly parallel?: number
}

export class PointDiskSource implements DiskSource {
  readonly description: string
  readonly size: number
  outcome: SourceOutcome | undefined

  constructor(
    readonly reader: DiskReader,
    name: string,
    readonly options: PointSourceOptions = {},
  ) {
    this.description = `disk ${name} of a restore point`
    this.size = reader.size
  }

  async *chunks(request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const { reader } = this
    if (request.chunkSize !== reader.chunkSize) {
      throw new DiskError(
        'DISK_PATH_UNAVAILABLE',
        `${this.description} has chunks of ${reader.chunkSize} bytes, ${request.chunkSize} asked for`,
      )
    }
    const base = this.options.base
    const differs = (i: number): boolean => base === undefined || base.idOf(i) !== reader.idOf(i)
    const wanted = mergeChunks(
      Array.from({ length: reader.chunkCount }, (_, i) => i).filter(differs),
      request.needed,
    ).filter((i) => request.skip?.has(i) !== true)
    const read = wanted.filter((i) => reader.idOf(i) !== undefined)
    const holes =
      request.complete || base !== undefined ? wanted.filter((i) => reader.idOf(i) === undefined) : []
    const bytes = read.reduce((n, i) => n + reader.chunkLength(i), 0)
    request.events?.planned?.(read.length, bytes)
    yield* this.#read(read, request.signal)
    for (const index of holes) yield { index, lease: undefined }
    this.outcome = {
      path: base === undefined ? 'allocated' : 'changed-ids',
      via: 'repository',
      chunks: read.length,
      holes: holes.length,
      warnings: [],
    }
  }

  async close(): Promise<void> {}

  async *#read(list: readonly number[], signal: AbortSignal): AsyncGenerator<DiskChunk> {
    const window: Promise<DiskChunk>[] = []
    let next = 0
    const start = (): void => {
      const index = list[next++]!
      const p = this.reader.leaseChunk(index, signal).then(({ bytes, release }) => ({
        index,
        lease: lent(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), () => release()),
      }))
      p.catch(() => {}) // observed when taken from the window
      window.push(p)
    }
    const parallel = Math.max(1, this.options.parallel ?? 8)
    try {
      while (next < list.length || window.length > 0) {
        while (next < list.length && window.length < parallel) start()
        yield await window.shift()!
      }
    } finally {
      for (const p of window)
        p.then(
          (c) => c.lease?.release(),
          () => {},
        )
    }
  }
}
