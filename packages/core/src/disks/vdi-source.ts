// A VDI snapshot as a disk source. Which chunks changed: CBT → the BAT of the VHD delta → the VHD delta
// stream → a full read (each fallback a warning saying why); where their bytes come from: NBD with pinned
// TLS, else the VHD export (an NBD failure switches the rest of the disk to it, with a warning). Errors
// of the consumer (repository, storage) never reach here: they are never a reason to read another way.
import { errorMessage } from '../shared/index.js'
import { listChangedBlocks, type XapiRecord } from '../xapi/index.js'
import { mergeChunks } from './chunk-map.js'
import {
  chunkCountOf,
  type ChunkRequest,
  type DiskChunk,
  type DiskSource,
  type SourceOutcome,
} from './disk-source.js'
import { canFallBack, DiskError } from './errors.js'
import { VdiReader, type VdiBase, type VdiReaderOptions } from './vdi-reader.js'
import { changedChunksFromBat } from './vhd-source.js'

export type { VdiBase } from './vdi-reader.js'

export type ChangedBlocksPath = 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'

export interface VdiSourceOptions extends VdiReaderOptions {
  readonly record: XapiRecord
  readonly changedBlocks: 'auto' | ChangedBlocksPath
  /**
   * Runs `VDI.list_changed_blocks`, which a snapshot still attached to dom0 refuses with VDI_IN_USE for a
   * moment after the last run: the caller's wait for that (default: call once).
   */
  readonly waitOutInUse?: <T>(fn: () => Promise<T>, signal: AbortSignal) => Promise<T>
}

const AUTO: ChangedBlocksPath[] = ['cbt', 'vhd-bat', 'vhd-stream', 'full']

export class VdiDiskSource implements DiskSource {
  readonly description: string
  readonly size: number
  outcome: SourceOutcome | undefined
  readonly #o: VdiSourceOptions
  #reader: VdiReader | undefined

  constructor(options: VdiSourceOptions) {
    this.#o = options
    this.description = `VDI ${String(options.record.uuid)}`
    this.size = Number(options.record.virtual_size)
  }

  async *chunks(request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const o = this.#o
    const plan: ChangedBlocksPath[] =
      o.base === undefined ? ['full'] : o.changedBlocks === 'auto' ? AUTO : [o.changedBlocks]
    const reader = (this.#reader = new VdiReader(o, this.description, this.size, request))
    for (const [k, path] of plan.entries()) {
      try {
        yield* this.#path(path, reader, request)
        this.outcome = { path, ...reader.summary() }
        return
      } catch (error) {
        const next = plan[k + 1]
        if (next === undefined || !canFallBack(error, request.signal)) throw error
        reader.warn(
          `${path} failed for ${this.description} (${errorMessage(error)}): falling back to ${next}`,
          {
            code: (error as { code?: string }).code,
          },
        )
      }
    }
    throw new DiskError('DISK_PATH_UNAVAILABLE', `no changed-block path for ${this.description}`)
  }

  async close(): Promise<void> {
    await this.#reader?.close()
  }

  #path(path: ChangedBlocksPath, reader: VdiReader, request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const base = this.#o.base
    if (path === 'full' || base === undefined) return reader.full(this.#o.changedBlocks !== 'full')
    if (path === 'cbt') return this.#cbt(base, reader, request)
    if (!base.hasData) {
      throw new DiskError('DISK_PATH_UNAVAILABLE', `base snapshot ${base.vdi} has no data (cbt_metadata)`)
    }
    if (path === 'vhd-bat') return this.#bat(base, reader, request)
    return reader.stream(request.needed)
  }

  async *#cbt(base: VdiBase, reader: VdiReader, request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const o = this.#o
    if (!base.cbt || o.record.cbt_enabled !== true) {
      throw new DiskError(
        'DISK_PATH_UNAVAILABLE',
        `CBT is not enabled on both snapshots of ${this.description}`,
      )
    }
    const { signal } = request
    const list = () => listChangedBlocks(o.xapi, base.vdi, o.vdi, { signal })
    const changed = await (o.waitOutInUse === undefined ? list() : o.waitOutInUse(list, signal))
    const chunks = mergeChunks(changed.changedBlocks(request.chunkSize), request.needed)
    if (request.partial !== true) return yield* reader.chunks(chunks)
    // A consumer writing over the base's state needs only the 64 KiB runs that changed (needed chunks whole).
    const parts = changed.changedExtents(request.chunkSize, this.size)
    for (const index of request.needed) parts.delete(index)
    yield* reader.chunks(chunks, parts)
  }

  async *#bat(base: VdiBase, reader: VdiReader, request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const { chunkSize, signal } = request
    const count = chunkCountOf(this.size, chunkSize)
    const bat = await changedChunksFromBat(this.#o.xapi, this.#o.vdi, base.vdi, chunkSize, count, signal)
    yield* reader.chunks(mergeChunks(bat, request.needed))
  }
}
