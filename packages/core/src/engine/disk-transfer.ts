// One disk of a backup: which chunks changed (CBT → BAT of the VHD delta → the VHD delta stream → a full
// read; each fallback a warning saying why) and where their bytes come from (NBD with pinned TLS, else
// the VHD export). Every chunk goes to all targets through one ChunkSink.
import type { ChunkSink } from '../disks/index.js'
import {
  DiskError,
  allChunks,
  changedChunksFromBat,
  mergeChunks,
  openVdiNbd,
  readChunksOverNbd,
  storeVhdStream,
} from '../disks/index.js'
import type { NbdClient } from '../nbd/index.js'
import { RepositoryError } from '../repository/index.js'
import { AbortedError, errorMessage, type TaskContext } from '../shared/index.js'
import { StorageError } from '../storage/index.js'
import { listChangedBlocks, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'
import { waitOutInUse } from '../xapi/index.js'

export type ChangedBlocksPath = 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'

export interface DiskBase {
  /** The base snapshot VDI (maybe a cbt_metadata VDI without data). */
  readonly vdi: Ref
  readonly hasData: boolean
  readonly cbt: boolean
}

export interface DiskTransfer {
  readonly vdi: Ref
  readonly record: XapiRecord
  /** Undefined: a full read. */
  readonly base: DiskBase | undefined
  readonly sink: ChunkSink
  /** Some writer starts from a base index: chunks a full read skips must be stored as zeros. */
  readonly zeroFill: boolean
  /** Chunks already in every writer (adopted from an interrupted attempt): never read. */
  readonly skip?: ReadonlySet<number>
}

export interface TransferSettings {
  readonly changedBlocks: 'auto' | ChangedBlocksPath
  readonly preferNbd: boolean
  readonly nbdConnections?: number
}

const AUTO: ChangedBlocksPath[] = ['cbt', 'vhd-bat', 'vhd-stream', 'full']

/** Transfers one disk; returns the path that succeeded. */
export async function transferDisk(
  task: TaskContext,
  xapi: XapiClient,
  job: DiskTransfer,
  settings: TransferSettings,
): Promise<ChangedBlocksPath> {
  const plan: ChangedBlocksPath[] =
    job.base === undefined ? ['full'] : settings.changedBlocks === 'auto' ? AUTO : [settings.changedBlocks]
  const reader = new DiskDataReader(task, xapi, job, settings)
  try {
    for (const [k, path] of plan.entries()) {
      try {
        await runPath(path, reader, job, settings.changedBlocks === 'full')
        task.set({ path, nbd: reader.usedNbd })
        return path
      } catch (error) {
        const next = plan[k + 1]
        if (next === undefined || !canFallBack(error, task.signal)) throw error
        task.warn(`${path} failed for VDI ${uuidOf(job)} (${errorMessage(error)}): falling back to ${next}`, {
          code: (error as { code?: string }).code,
        })
      }
    }
    throw new DiskError('DISK_PATH_UNAVAILABLE', `no changed-block path for VDI ${uuidOf(job)}`)
  } finally {
    await reader.close()
  }
}

async function runPath(
  path: ChangedBlocksPath,
  reader: DiskDataReader,
  job: DiskTransfer,
  forcedFull: boolean,
) {
  const { sink } = job
  const base = job.base
  if (path === 'full' || base === undefined) return reader.full(!forcedFull)
  if (path === 'cbt') {
    if (!base.cbt || job.record.cbt_enabled !== true) {
      throw new DiskError(
        'DISK_PATH_UNAVAILABLE',
        `CBT is not enabled on both snapshots of VDI ${uuidOf(job)}`,
      )
    }
    const { signal } = reader.task
    const changed = await waitOutInUse(
      () => listChangedBlocks(reader.xapi, base.vdi, job.vdi, { signal }),
      signal,
    )
    return reader.chunks(mergeChunks(changed.changedBlocks(sink.chunkSize), sink.needed()))
  }
  if (!base.hasData) {
    throw new DiskError('DISK_PATH_UNAVAILABLE', `base snapshot ${base.vdi} has no data (cbt_metadata)`)
  }
  if (path === 'vhd-bat') {
    const { xapi, task } = reader
    const bat = await changedChunksFromBat(
      xapi,
      job.vdi,
      base.vdi,
      sink.chunkSize,
      sink.chunkCount,
      task.signal,
    )
    return reader.chunks(mergeChunks(bat, sink.needed()))
  }
  return reader.stream(sink.needed())
}

function canFallBack(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted || error instanceof AbortedError) return false
  // The repository side failing is not a reason to read the disk another way.
  return !(error instanceof RepositoryError || error instanceof StorageError)
}

function uuidOf(job: DiskTransfer): string {
  return String(job.record.uuid)
}

/** Reads chunk data over NBD when possible, else from the VHD export; drops NBD after a failure. */
class DiskDataReader {
  #nbd: NbdClient | undefined
  #nbdTried = false
  usedNbd = false

  constructor(
    readonly task: TaskContext,
    readonly xapi: XapiClient,
    readonly job: DiskTransfer,
    readonly settings: TransferSettings,
  ) {}

  /** Reads these chunks (and only these, less those already stored by a resumed attempt). */
  async chunks(all: readonly number[]): Promise<void> {
    const { sink, skip } = this.job
    const list = skip === undefined || skip.size === 0 ? all : all.filter((i) => !skip.has(i))
    sink.expected = sink.bytesRead + list.length * sink.chunkSize
    this.task.progress({ done: sink.bytesRead, total: sink.expected })
    const nbd = await this.#openNbd()
    if (nbd !== undefined) {
      try {
        return await readChunksOverNbd(nbd, this.job.sink, list, this.task.signal)
      } catch (error) {
        if (!canFallBack(error, this.task.signal)) throw error
        this.task.warn(
          `NBD read of VDI ${uuidOf(this.job)} failed (${errorMessage(error)}): using the VHD export`,
        )
        await this.#dropNbd()
      }
    }
    const base = this.job.base?.hasData === true ? this.job.base.vdi : undefined
    await this.stream(list, base)
  }

  /** The VHD export (delta over `base` when given); then `needed` chunks it did not carry. */
  async stream(needed: readonly number[], base: Ref | undefined = this.job.base?.vdi): Promise<void> {
    const { sink } = this.job
    const written = new Set(await storeVhdStream(this.xapi, this.job.vdi, base, sink, this.task.signal))
    const rest = needed.filter((i) => !written.has(i))
    if (rest.length === 0) return
    if (base !== undefined) return this.stream(rest, undefined)
    // A full export leaves out blocks never written: they read as zeros.
    for (const i of rest) await sink.put(i, zeros(sink.chunkLength(i)), this.task.signal)
  }

  /** Every chunk; with `skipUnallocated`, the BAT of a full VHD export names the chunks worth reading. */
  async full(skipUnallocated: boolean): Promise<void> {
    const { sink } = this.job
    const every = allChunks(sink.chunkCount)
    const nbd = await this.#openNbd()
    if (nbd === undefined) return this.stream(this.job.zeroFill ? every : [], undefined)
    let list = every
    if (skipUnallocated) {
      const { xapi, task } = this
      try {
        const { chunkSize, chunkCount } = sink
        const bat = await changedChunksFromBat(
          xapi,
          this.job.vdi,
          undefined,
          chunkSize,
          chunkCount,
          task.signal,
        )
        list = mergeChunks(bat, sink.needed())
      } catch (error) {
        if (!canFallBack(error, task.signal)) throw error
        task.warn(
          `the BAT of VDI ${uuidOf(this.job)} is unreadable (${errorMessage(error)}): reading every chunk`,
        )
      }
    }
    await this.chunks(list)
    if (!this.job.zeroFill) return
    const read = new Set(list)
    for (const i of every) if (!read.has(i)) await sink.put(i, zeros(sink.chunkLength(i)), this.task.signal)
  }

  async #openNbd(): Promise<NbdClient | undefined> {
    if (this.#nbdTried) return this.#nbd
    this.#nbdTried = true
    if (!this.settings.preferNbd) return undefined
    try {
      const { signal } = this.task
      this.#nbd = await openVdiNbd(this.xapi, this.job.vdi, {
        connections: this.settings.nbdConnections,
        signal,
      })
      if (this.#nbd === undefined) this.task.warn('no network with an NBD purpose: data from the VHD export')
    } catch (error) {
      if (!canFallBack(error, this.task.signal)) throw error
      this.task.warn(
        `NBD unavailable for VDI ${uuidOf(this.job)} (${errorMessage(error)}): using the VHD export`,
      )
    }
    this.usedNbd = this.#nbd !== undefined
    return this.#nbd
  }

  async #dropNbd(): Promise<void> {
    const nbd = this.#nbd
    this.#nbd = undefined
    await nbd?.close().catch(() => undefined)
  }

  async close(): Promise<void> {
    await this.#dropNbd()
  }
}

let zeroBuffer = Buffer.alloc(0)
function zeros(length: number): Buffer {
  if (zeroBuffer.length < length) zeroBuffer = Buffer.alloc(length)
  return zeroBuffer.subarray(0, length)
}
