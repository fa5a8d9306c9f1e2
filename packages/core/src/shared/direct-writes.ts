// Writes straight to the disk (O_DIRECT), around the page cache, for restores of whole disks and for the
// objects of a local repository: the data is not copied into the page cache and written back later (in a
// VM, both cost more CPU than the restore itself), and the fsync only has metadata left to commit. Direct I/O needs the buffer, the
// position and the length aligned (see ALIGN): writes that are not (a disk's odd tail) go through the
// page cache as usual, and a file system without direct I/O (tmpfs on older kernels) gets none.
import { constants } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { writeFully } from './file-io.js'

/**
 * The alignment asked of positions and lengths: the file system block, not only the device's logical
 * block (512), since ext4 serves a direct write of a part of a block through the page cache, where any
 * buffer address works: a 512-byte probe would "succeed" at an unaligned address.
 */
const ALIGN = 4096
/** How far into its allocation the bounce buffer's aligned start is looked for (see alignedBuffer). */
const PROBE_LIMIT = 4096

export class DirectWrites {
  private constructor(
    readonly handle: FileHandle,
    readonly bounce: Buffer,
  ) {}

  /**
   * A direct-I/O handle on `path` with an aligned bounce buffer of `maxLength` bytes; undefined where
   * direct I/O is not available. Finding the alignment writes 4096 zero bytes at `probeAt` (aligned,
   * inside the file): pass a place the caller writes anyway.
   */
  static async open(path: string, maxLength: number, probeAt: number): Promise<DirectWrites | undefined> {
    if (constants.O_DIRECT === undefined) return undefined
    let handle: FileHandle
    try {
      handle = await open(path, constants.O_RDWR | constants.O_DIRECT)
    } catch {
      return undefined // EINVAL: the file system refuses direct I/O
    }
    try {
      const bounce = await alignedBuffer(handle, maxLength, probeAt)
      if (bounce !== undefined) return new DirectWrites(handle, bounce)
    } catch {
      // any other refusal: no direct I/O
    }
    await handle.close()
    return undefined
  }

  /** Whether `write` takes this range. */
  accepts(position: number, length: number): boolean {
    return position % ALIGN === 0 && length % ALIGN === 0 && length <= this.bounce.length
  }

  /**
   * Writes `data` at `position` (see `accepts`), through the bounce buffer: one write at a time.
   * False, with nothing written, if the file system refuses it after all (EINVAL): the caller then
   * writes through the page cache and should stop using this handle.
   */
  async write(data: Uint8Array, position: number): Promise<boolean> {
    const view = this.bounce.subarray(0, data.length)
    view.set(data)
    for (let done = 0; done < view.length;) {
      try {
        const { bytesWritten } = await this.handle.write(view, done, view.length - done, position + done)
        done += bytesWritten
      } catch (error) {
        if (done === 0 && (error as NodeJS.ErrnoException).code === 'EINVAL') return false
        throw error
      }
    }
    return true
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}

/**
 * A buffer of `length` bytes at an address direct I/O accepts. JavaScript cannot see addresses, so the
 * start is found by trying a direct write of one zero block at each 16-byte step (a direct read is no
 * test: reading a hole succeeds at any address). Large allocations usually start 16 bytes past a page
 * (the allocator's header), so that offset is tried first.
 */
async function alignedBuffer(
  handle: FileHandle,
  length: number,
  probeAt: number,
): Promise<Buffer | undefined> {
  const raw = Buffer.alloc(roundUp(length, ALIGN) + PROBE_LIMIT)
  const likely = PROBE_LIMIT - 16
  for (const start of [likely, ...Array.from({ length: PROBE_LIMIT / 16 }, (_, i) => i * 16)]) {
    try {
      await handle.write(raw, start, ALIGN, probeAt)
      return raw.subarray(start, start + length)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
    }
  }
  return undefined
}

/**
 * Whole files written with direct I/O through a few aligned bounce buffers: for a store's objects, each
 * written once, synced, and rarely read back soon. Only files of up to `maxLength` bytes, and only while
 * a buffer is free: otherwise `write` declines and the caller writes through the page cache.
 */
export class DirectFiles {
  readonly #free: Buffer[]

  private constructor(
    buffers: Buffer[],
    readonly maxLength: number,
  ) {
    this.#free = buffers
  }

  /**
   * Direct writes of files in `dir`, or undefined where its file system has none. The alignment is
   * found with a probe file at `probePath` (in `dir`; removed again).
   */
  static async open(probePath: string, maxLength: number, count: number): Promise<DirectFiles | undefined> {
    if (constants.O_DIRECT === undefined) return undefined
    const slot = roundUp(maxLength, ALIGN)
    let handle: FileHandle
    try {
      handle = await open(
        probePath,
        constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT,
      )
    } catch {
      return undefined // EINVAL: the file system refuses direct I/O
    }
    try {
      // One allocation for all the buffers: one probe finds the alignment of every slot in it.
      const all = await alignedBuffer(handle, slot * count, 0)
      if (all === undefined) return undefined
      return new DirectFiles(
        Array.from({ length: count }, (_, i) => all.subarray(i * slot, (i + 1) * slot)),
        maxLength,
      )
    } catch {
      return undefined // any other refusal: no direct I/O
    } finally {
      await handle.close()
      await unlink(probePath).catch(() => undefined)
    }
  }

  /**
   * Creates `path` (which must not exist) holding `data`, synced; with `mode`, exactly that mode. False when this cannot take it (too
   * large, no free buffer, or refused by the file system): then nothing is left at `path` either.
   */
  async write(path: string, data: Uint8Array, mode?: number): Promise<boolean> {
    if (data.length > this.maxLength || this.#free.length === 0) return false
    const bounce = this.#free.pop()!
    try {
      const padded = roundUp(data.length, ALIGN)
      bounce.set(data)
      bounce.fill(0, data.length, padded)
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT
      const handle = await open(path, flags, mode ?? 0o644).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EINVAL') return undefined
        throw error
      })
      if (handle === undefined) return false
      let written = false
      try {
        if (mode !== undefined) await handle.chmod(mode) // exactly this mode, whatever the umask
        await writeFully(handle, bounce.subarray(0, padded), 0)
        written = true
        if (padded !== data.length) await handle.truncate(data.length)
        await handle.sync()
      } catch (error) {
        await handle.close().catch(() => undefined)
        await unlink(path).catch(() => undefined)
        if (!written && (error as NodeJS.ErrnoException).code === 'EINVAL') return false
        throw error
      }
      await handle.close()
      return true
    } finally {
      this.#free.push(bounce)
    }
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to
}
