// Writes straight to the disk (O_DIRECT), around the page cache, for restores of whole disks: the data
// is not copied into the page cache and written back later (in a VM, both cost more CPU than the restore
// itself), and the final fsync only has metadata left to commit. Direct I/O needs the buffer, the
// position and the length aligned (see ALIGN): writes that are not (a disk's odd tail) go through the
// page cache as usual, and a file system without direct I/O (tmpfs on older kernels) gets none.
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

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
 * test: reading a hole succeeds at any address).
 */
async function alignedBuffer(
  handle: FileHandle,
  length: number,
  probeAt: number,
): Promise<Buffer | undefined> {
  const raw = Buffer.alloc(roundUp(length, ALIGN) + PROBE_LIMIT)
  for (let start = 0; start < PROBE_LIMIT; start += 16) {
    try {
      await handle.write(raw, start, ALIGN, probeAt)
      return raw.subarray(start, start + length)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
    }
  }
  return undefined
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to
}
