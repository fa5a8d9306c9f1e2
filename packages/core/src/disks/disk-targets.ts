// Where a restore point's disk goes: an existing VDI through /import_raw_vdi (a sparse VHD stream), a
// sparse raw file, or a VHD file. Chunks are read in parallel; zeros are never read nor sent.
import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import type { DiskReader } from '../repository/index.js'
import { importVdi, type Ref, type XapiClient } from '../xapi/index.js'
import { DirectWrites, writeFully } from '../shared/index.js'
import { diskVhdBytes, planDiskVhd, readSpans } from './repository-source.js'

export interface TargetOptions {
  readonly parallel?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (bytes: number) => void
}

export interface FileTargetOptions extends TargetOptions {
  /**
   * Make the file durable before it takes its name (default true). false leaves that to the page
   * cache: faster, but a crash soon after can leave a file of the right name with holes in it.
   */
  readonly sync?: boolean
}

/**
 * While a file is written, its dirty pages are flushed every this many bytes, one flush at a time,
 * so that the disk works alongside the restore instead of all at once in the final fsync.
 */
const FLUSH_EVERY = 256 * 1024 * 1024

/** Writes the disk into an existing VDI of at least its size; returns the bytes of the VHD sent. */
export async function writeDiskToVdi(
  xapi: XapiClient,
  reader: DiskReader,
  vdi: Ref,
  options: TargetOptions = {},
): Promise<number> {
  const plan = planDiskVhd(reader)
  await importVdi(
    xapi,
    vdi,
    {
      // Not a Readable, which would read ahead of the socket: the blocks' bytes are lent until resumed.
      open: () => counted(diskVhdBytes(reader, plan, options.parallel, options.signal), options),
      length: plan.length,
    },
    { format: 'vhd', signal: options.signal },
  )
  return plan.length
}

/** Writes the disk to `path` (replaced atomically), raw and sparse or as a dynamic VHD; returns its size. */
export async function writeDiskToFile(
  reader: DiskReader,
  path: string,
  format: 'raw' | 'vhd',
  options: FileTargetOptions = {},
): Promise<number> {
  // Never another writer's file: two restores to one path each write their own, the last rename wins.
  const temp = `${path}.strata-${randomBytes(4).toString('hex')}.partial`
  const file = await open(temp, 'wx')
  const sync = options.sync ?? true
  const flusher = new Flusher(file, sync)
  let direct: DirectWrites | undefined
  try {
    const write = async (data: Uint8Array, position: number): Promise<void> => {
      if (direct?.accepts(position, data.length)) {
        if (await direct.write(data, position)) return
        await direct.close() // refused after all: the page cache from now on
        direct = undefined
      }
      await writeFully(file, data, position)
      flusher.wrote(data.length)
    }
    let bytes: number
    if (format === 'raw') {
      await file.truncate(reader.size) // holes for the zero chunks
      // A whole disk goes around the page cache where the file system allows (see direct-writes.ts).
      const chunks = [...reader.nonZeroChunks()]
      // Durable files only: one left to the page cache (--no-sync) is written there, as asked.
      if (sync && chunks.length > 0 && reader.chunkLength(chunks[0]!) % 4096 === 0)
        direct = await DirectWrites.open(temp, reader.chunkSize, chunks[0]! * reader.chunkSize)
      bytes = await writeRaw(write, reader, chunks, options)
    } else bytes = await writeVhdFile(write, reader, options)
    await direct?.close()
    direct = undefined
    await flusher.settle()
    if (sync) await file.sync()
    await file.close()
    await rename(temp, path)
    return bytes
  } catch (error) {
    await direct?.close().catch(() => undefined)
    await flusher.settle().catch(() => undefined)
    await file.close().catch(() => undefined)
    await rm(temp, { force: true })
    throw error
  }
}

type Handle = Awaited<ReturnType<typeof open>>
type Write = (data: Uint8Array, position: number) => Promise<void>

/**
 * Writes one after the other (while the chunks of what follows are read in parallel): concurrent
 * writes to one file only contend for its inode lock.
 */
async function writeRaw(
  write: Write,
  reader: DiskReader,
  chunks: number[],
  options: TargetOptions,
): Promise<number> {
  let done = 0
  for await (const { index, data } of readSpans(
    reader,
    chunks,
    reader.chunkSize,
    options.parallel ?? 8,
    options.signal,
  )) {
    await write(data, index * reader.chunkSize)
    done += data.length
    options.onProgress?.(done)
  }
  return reader.size
}

async function writeVhdFile(write: Write, reader: DiskReader, options: TargetOptions): Promise<number> {
  const plan = planDiskVhd(reader)
  let position = 0
  for await (const bytes of counted(diskVhdBytes(reader, plan, options.parallel, options.signal), options)) {
    await write(bytes, position)
    position += bytes.length
  }
  return position
}

/** Starts a datasync every FLUSH_EVERY bytes written, never two at once; a failed one fails the file. */
class Flusher {
  #since = 0
  #pending: Promise<void> | undefined
  #failure: unknown

  constructor(
    readonly file: Handle,
    readonly enabled: boolean,
  ) {}

  wrote(bytes: number): void {
    if (this.#failure !== undefined) throw this.#failure
    this.#since += bytes
    if (!this.enabled || this.#pending !== undefined || this.#since < FLUSH_EVERY) return
    this.#since = 0
    this.#pending = this.file.datasync().then(
      () => void (this.#pending = undefined),
      (error: unknown) => void ((this.#failure = error), (this.#pending = undefined)),
    )
  }

  async settle(): Promise<void> {
    await this.#pending
    if (this.#failure !== undefined) throw this.#failure
  }
}

async function* counted(
  source: AsyncIterable<Uint8Array>,
  options: TargetOptions,
): AsyncGenerator<Uint8Array> {
  let done = 0
  for await (const bytes of source) {
    yield bytes
    done += bytes.length
    options.onProgress?.(done)
  }
}
