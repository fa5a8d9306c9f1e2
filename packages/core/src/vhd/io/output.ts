// Writing outputs safely and sparsely: a temp file beside the target renamed into place only when
// complete (never a half-written OUT), raw images written block by block with zero blocks left as holes.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { throwIfAborted } from '../../shared/abort.js'
import { DirectWrites } from '../../shared/direct-writes.js'
import { writeFully } from '../../shared/file-io.js'
import { isZero } from '../bytes.js'

export interface AtomicWriteOptions {
  signal?: AbortSignal
  /** fsync before the rename so that a crash cannot leave a renamed but empty file. Default true. */
  sync?: boolean
}

/** `write` gets the temporary file's handle and path. */
export async function writeFileAtomically<T>(
  path: string,
  write: (handle: FileHandle, temp: string) => Promise<T>,
  options: AtomicWriteOptions = {},
): Promise<T> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx')
  try {
    const result = await write(handle, temp)
    throwIfAborted(options.signal)
    if (options.sync ?? true) await handle.sync()
    await handle.close()
    await rename(temp, path)
    return result
  } catch (error) {
    await handle.close().catch(() => undefined)
    await unlink(temp).catch(() => undefined)
    throw error
  }
}

/** Writes a byte stream sequentially, gathering small pieces into large writes. */
export async function writeChunks(
  handle: FileHandle,
  chunks: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<number> {
  const batchBytes = 8 * 1024 * 1024
  let batch: Uint8Array[] = []
  let batched = 0
  let position = 0
  const flush = async (): Promise<void> => {
    if (batched === 0) return
    await writevAll(handle, batch, position)
    position += batched
    batch = []
    batched = 0
  }
  for await (const chunk of chunks) {
    throwIfAborted(signal)
    batch.push(chunk)
    batched += chunk.length
    if (batched >= batchBytes) await flush()
  }
  await flush()
  return position
}

async function writevAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  const total = buffers.reduce((n, b) => n + b.length, 0)
  const { bytesWritten } = await handle.writev(buffers, position)
  if (bytesWritten < total) {
    // Short writes are rare (full disk is an error, not a short write); finish one buffer at a time.
    let done = 0
    for (const b of buffers) {
      const skip = Math.max(0, Math.min(b.length, bytesWritten - done))
      if (skip < b.length) await writeFully(handle, b.subarray(skip), position + done + skip)
      done += b.length
    }
  }
}

/**
 * writeRawBlocks is done with a block's buffer once it has pulled this many more blocks (writes are
 * bounded by blocks pulled, not by writes started, so a run of skipped zero blocks cannot leave an
 * old write pending). Sources that reuse buffers rely on it.
 */
export const RAW_WRITE_WINDOW = 4

export interface RawBlock {
  index: number
  data: Uint8Array
}

/**
 * Writes blocks of a disk image at index × blockSize, skipping all-zero blocks (holes), into a file
 * first set to `size`. Returns the number of blocks written. One write runs at a time, overlapping
 * the reads, and takes every queued block that follows on (one writev): concurrent writes to one file
 * only contend for its inode lock (perf showed a quarter of the CPU spinning in rwsem_spin_on_owner
 * with four in flight), and merged writes spare a round trip through the event loop per block.
 * Given the file's path, whole blocks go around the page cache (direct I/O) where the file system
 * allows: the kernel's copy into the page cache was most of the cost, and a large image no longer
 * evicts everything else from memory.
 */
export async function writeRawBlocks(
  handle: FileHandle,
  blocks: AsyncIterable<RawBlock>,
  size: number,
  blockSize: number,
  signal?: AbortSignal,
  path?: string,
): Promise<number> {
  // Sized first, as qemu-img does: the writes then land inside the file and never extend it.
  await handle.truncate(size)
  // The alignment probe writes zeros at 0, where the new file holds zeros anyway.
  const direct = path === undefined || size < 4096 ? undefined : await DirectWrites.open(path, blockSize, 0)
  try {
    return await writeBlocks(new SequentialWriter(handle, direct), blocks, size, blockSize, signal)
  } finally {
    await direct?.close()
  }
}

async function writeBlocks(
  writer: SequentialWriter,
  blocks: AsyncIterable<RawBlock>,
  size: number,
  blockSize: number,
  signal?: AbortSignal,
): Promise<number> {
  const inFlight: { seq: number; write: Promise<void> }[] = []
  let written = 0
  let seq = 0
  try {
    for await (const { index, data } of blocks) {
      throwIfAborted(signal)
      seq++
      const start = index * blockSize
      const length = Math.min(data.length, size - start)
      if (length > 0 && !isZero(data.subarray(0, length))) {
        const write = writer.write(data.subarray(0, length), start)
        write.catch(() => undefined) // awaited below; this only keeps an early failure from being "unhandled"
        inFlight.push({ seq, write })
        written++
      }
      while (inFlight.length > 0 && inFlight[0]!.seq <= seq - RAW_WRITE_WINDOW + 1)
        await inFlight.shift()!.write
    }
    await Promise.all(inFlight.splice(0).map((w) => w.write))
  } finally {
    await Promise.allSettled(inFlight.map((w) => w.write))
  }
  return written
}

interface QueuedWrite {
  data: Uint8Array
  position: number
  done: () => void
  fail: (error: unknown) => void
}

/** Positional writes run one at a time; writes queued meanwhile that follow on go out as one writev. */
class SequentialWriter {
  private readonly queue: QueuedWrite[] = []
  private running = false
  private failure: unknown

  constructor(
    private readonly handle: FileHandle,
    private direct?: DirectWrites,
  ) {}

  write(data: Uint8Array, position: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return new Promise((done, fail) => {
      this.queue.push({ data, position, done, fail })
      if (!this.running) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.running = true
    while (this.queue.length > 0) {
      const batch = [this.queue.shift()!]
      const { data, position } = batch[0]!
      // A direct write goes alone, through its bounce buffer; page-cache writes take what follows on.
      const direct = this.direct?.accepts(position, data.length) === true
      let end = position + data.length
      while (!direct && this.queue[0]?.position === end) {
        const next = this.queue.shift()!
        batch.push(next)
        end += next.data.length
      }
      try {
        if (!direct || !(await this.direct!.write(data, position))) {
          if (direct) this.direct = undefined // refused after all: the page cache from now on
          await writevAll(
            this.handle,
            batch.map((w) => w.data),
            position,
          )
        }
        for (const w of batch) w.done()
      } catch (error) {
        // A failed write fails everything after it: a disk image with a gap must not look complete.
        this.failure = error
        for (const w of [...batch, ...this.queue.splice(0)]) w.fail(error)
      }
    }
    this.running = false
  }
}
