// An XO disk written to a file: raw and sparse (zero blocks stay holes), or a dynamic VHD holding the
// disk's blocks. The file is written under a temporary name and takes its name only once complete and
// synced; an existing file is replaced only when asked (force). A failure leaves nothing behind.
import { randomBytes } from 'node:crypto'
import { link, lstat, open, rename, rm } from 'node:fs/promises'
import { isZero, throwIfAborted, writeFully } from '../../shared/index.js'
import { planVhd, writeVhd } from '../../vhd/index.js'
import type { XoDisk } from '../disk.js'
import { XoError } from '../errors.js'

export interface DiskFileOptions {
  readonly format: 'raw' | 'vhd'
  /** Replace a file already at the path (default: refuse with XO_TARGET_EXISTS). */
  readonly force?: boolean
  readonly signal?: AbortSignal
  /** Bytes of the disk done so far. */
  readonly onProgress?: (done: number) => void
}

type Handle = Awaited<ReturnType<typeof open>>

/** Writes the disk to `path`; returns the file's size. */
export async function writeXoDiskToFile(
  disk: XoDisk,
  path: string,
  options: DiskFileOptions,
): Promise<number> {
  const { signal } = options
  if (options.force !== true) await refuseExisting(path)
  const temp = `${path}.strata-${randomBytes(4).toString('hex')}.partial`
  const file = await open(temp, 'wx')
  try {
    const bytes =
      options.format === 'raw' ? await writeRaw(file, disk, options) : await writeVhdFile(file, disk, options)
    throwIfAborted(signal)
    await file.sync()
    await file.close()
    if (options.force === true) await rename(temp, path)
    else {
      // link() fails if the name was taken meanwhile: a file that appeared is never replaced.
      await link(temp, path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw exists(path)
        throw error
      })
      await rm(temp)
    }
    return bytes
  } catch (error) {
    await file.close().catch(() => undefined)
    await rm(temp, { force: true })
    throw error
  }
}

async function refuseExisting(path: string): Promise<void> {
  const found = await lstat(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  })
  if (found !== undefined) throw exists(path)
}

function exists(path: string): XoError {
  return new XoError('XO_TARGET_EXISTS', `${path} exists: give --force to replace it`)
}

async function writeRaw(file: Handle, disk: XoDisk, options: DiskFileOptions): Promise<number> {
  await file.truncate(disk.size)
  for await (const { index, data } of disk.blocks({ signal: options.signal })) {
    const offset = index * disk.blockSize
    const part = data.subarray(0, Math.min(data.length, disk.size - offset))
    if (!isZero(part)) await writeFully(file, part, offset)
    options.onProgress?.(offset + part.length)
  }
  return disk.size
}

async function writeVhdFile(file: Handle, disk: XoDisk, options: DiskFileOptions): Promise<number> {
  const plan = planVhd({
    size: disk.size,
    blockSize: disk.blockSize,
    blockIndexes: await disk.presentBlocks(options.signal),
  })
  let position = 0
  const blocks = disk.blocks({ signal: options.signal })
  for await (const bytes of writeVhd(plan, blocks, options.signal)) {
    await writeFully(file, bytes, position)
    position += bytes.length
    options.onProgress?.(Math.min(disk.size, Math.round((position / plan.length) * disk.size)))
  }
  return position
}
