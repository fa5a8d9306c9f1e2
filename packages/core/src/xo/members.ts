// One VHD of a delta chain as XO stores it (xo-backups.md §2.4–2.6): a VHD file, or an alias whose
// text is the path of a VhdDirectory (or of a VHD file) relative to the alias. Both open as a VhdDisk,
// so the VHD codec's chain reader composes them; a VhdDirectory reads its blocks from their files.
import {
  bitmapSize,
  FOOTER_SIZE,
  HEADER_SIZE,
  isFullBitmap,
  MAX_TABLE_ENTRIES,
  openVhd,
  parseFooter,
  parseHeader,
  SECTOR_SIZE,
  VhdDisk,
  VhdError,
  VhdErrorCode,
  type RandomAccess,
  type VhdBlock,
  type VhdFooter,
  type VhdHeader,
} from '../vhd/index.js'
import { unfilter } from './chunks.js'
import { XoError } from './errors.js'
import { resolveFrom } from './format/paths.js'
import {
  BAT_FILE,
  blockPath,
  FILTERS_FILE,
  FOOTER_FILE,
  HEADER_FILE,
  checkBatBits,
  batHas,
  parseChunkFilters,
  type ChunkFilter,
} from './format/vhd-directory.js'
import type { XoRemote } from './remote.js'

/** XO's bound on an alias's text (ALIAS_MAX_PATH_LENGTH), with room for a newline. */
const ALIAS_MAX = 1024 + 2
/** What compression may add to an incompressible chunk, at most. */
const FILTER_SLACK = 64 * 1024

export interface Member {
  /** The path XO names the VHD by (the alias, or the file). */
  readonly path: string
  /** Where its data is: the VhdDirectory or the VHD file. */
  readonly target: string
  readonly kind: 'file' | 'directory'
  readonly disk: VhdDisk
}

export async function openMember(remote: XoRemote, path: string, signal?: AbortSignal): Promise<Member> {
  const target = path.endsWith('.alias.vhd') ? await resolveAlias(remote, path, signal) : path
  const size = await remote.size(target, signal)
  if (size !== undefined) {
    if (remote.encrypted) {
      throw new XoError('XO_UNSUPPORTED', `${target} in ${remote.name}: a VHD file on an encrypted remote`)
    }
    return {
      path,
      target,
      kind: 'file',
      disk: await openVhd(fileAccess(remote, target, size), { name: path, signal }),
    }
  }
  if ((await remote.size(`${target}/${FOOTER_FILE}`, signal)) === undefined) {
    throw new XoError(
      'XO_NOT_FOUND',
      `VHD ${path} is missing from ${remote.name} (no file or VhdDirectory at ${target})`,
    )
  }
  return { path, target, kind: 'directory', disk: await openVhdDirectory(remote, target, path, signal) }
}

/** The alias's target: never another alias, never outside the remote. */
export async function resolveAlias(remote: XoRemote, alias: string, signal?: AbortSignal): Promise<string> {
  const text = Buffer.from(await remote.read(alias, ALIAS_MAX, signal))
    .toString('utf8')
    .trim()
  if (text === '') throw new XoError('XO_ALIAS_INVALID', `alias ${alias} in ${remote.name} is empty`)
  if (text.endsWith('.alias.vhd')) {
    throw new XoError(
      'XO_ALIAS_INVALID',
      `alias ${alias} points to another alias (${text}), which XO forbids`,
    )
  }
  return resolveFrom(alias, text, `alias ${alias}`)
}

function fileAccess(remote: XoRemote, path: string, size: number): RandomAccess {
  return {
    size,
    async read(offset, length, signal) {
      const bytes = await remote.readRange(path, offset, length, signal)
      if (bytes.length !== length) {
        throw new VhdError(VhdErrorCode.truncated, `${path}: ${length} bytes at ${offset} lie past its end`)
      }
      return bytes
    },
  }
}

async function openVhdDirectory(
  remote: XoRemote,
  dir: string,
  name: string,
  signal?: AbortSignal,
): Promise<VhdDisk> {
  const what = `VhdDirectory ${dir}`
  const filters = parseChunkFilters(await remote.readIfPresent(`${dir}/${FILTERS_FILE}`, 4096, signal), what)
  const chunk = async (file: string, max: number): Promise<Uint8Array> =>
    unfilter(
      await remote.read(`${dir}/${file}`, remote.storedBound(max + FILTER_SLACK), signal),
      filters,
      max,
      `${what}/${file}`,
    )
  const footer = parseFooter(await chunk(FOOTER_FILE, FOOTER_SIZE), `${what} footer`).value
  if (footer.diskType === 'fixed') {
    throw new XoError(
      'XO_VHD_DIRECTORY_INVALID',
      `${what}: a VhdDirectory is dynamic or differencing, not fixed`,
    )
  }
  const header = parseHeader(
    await chunk(HEADER_FILE, HEADER_SIZE),
    footer.currentSize,
    `${what} header`,
  ).value
  const blockCount = Math.ceil(footer.currentSize / header.blockSize)
  const present = checkBatBits(await chunk(BAT_FILE, Math.ceil(MAX_TABLE_ENTRIES / 8)), blockCount, what)
  return new VhdDirectoryDisk(remote, dir, name, footer, header, present, filters)
}

/**
 * A VhdDirectory as a VhdDisk: it has no table of offsets (the VhdDisk sees none), its bat's bits say
 * which blocks are present (one bit a block, kept as read: a long chain of large disks stays small),
 * and a block is read, decrypted and inflated from its own file.
 */
export class VhdDirectoryDisk extends VhdDisk {
  readonly #remote: XoRemote
  readonly #dir: string
  readonly #filters: readonly ChunkFilter[]
  readonly #present: Uint8Array

  constructor(
    remote: XoRemote,
    dir: string,
    name: string,
    footer: VhdFooter,
    header: VhdHeader,
    present: Uint8Array,
    filters: readonly ChunkFilter[],
  ) {
    const noAccess: RandomAccess = {
      size: 0,
      read: () => Promise.reject(new XoError('XO_UNSUPPORTED', `${dir}: a VhdDirectory has no byte offsets`)),
    }
    const checks = { footer: true, footerCopy: undefined, header: true, footersMatch: undefined }
    super(noAccess, name, footer, header, undefined, checks)
    this.#remote = remote
    this.#dir = dir
    this.#filters = filters
    this.#present = present
  }

  override hasBlock(index: number): boolean {
    return index >= 0 && index < this.blockCount && batHas(this.#present, index)
  }

  override get allocatedBlocks(): number {
    let count = 0
    for (let i = 0; i < this.blockCount; i++) if (this.hasBlock(i)) count++
    return count
  }

  override async readBlock(index: number, signal?: AbortSignal): Promise<VhdBlock | undefined> {
    if (!this.hasBlock(index)) return undefined
    const map = bitmapSize(this.blockSize)
    const max = map + this.blockSize
    const what = `block ${index} of ${this.name}`
    const bytes = await unfilter(await this.#stored(index, max, signal), this.#filters, max, what)
    // XO writes whole blocks; a last block cut at the disk's end is accepted, padded with zeros.
    const inDisk = Math.min(this.blockSize, this.size - index * this.blockSize)
    if (bytes.length < map + Math.ceil(inDisk / SECTOR_SIZE) * SECTOR_SIZE) {
      throw new XoError('XO_VHD_DIRECTORY_INVALID', `${what} holds ${bytes.length} bytes, expected ${max}`)
    }
    const block = bytes.length === max ? bytes : padded(bytes, max)
    const bitmap = block.subarray(0, map)
    return {
      index,
      bitmap,
      data: block.subarray(map),
      full: isFullBitmap(bitmap, this.blockSize / SECTOR_SIZE),
    }
  }

  /** The block's file as stored (decrypted), its absence or failed authentication named as the block's. */
  async #stored(index: number, max: number, signal?: AbortSignal): Promise<Uint8Array> {
    const path = blockPath(this.#dir, index)
    try {
      return await this.#remote.read(path, this.#remote.storedBound(max + FILTER_SLACK), signal)
    } catch (error) {
      const code = (error as XoError).code
      if (code === 'XO_NOT_FOUND') {
        const message = `block ${index} of ${this.name} is missing (${path}) though its bat lists it`
        throw new XoError('XO_NOT_FOUND', message, { cause: error })
      }
      if (code !== 'XO_AUTH_FAILED') throw error
      const message = `block ${index} of ${this.name} (${path}) failed authentication: altered, or written with another key`
      throw new XoError('XO_AUTH_FAILED', message, { cause: error })
    }
  }
}

function padded(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length)
  out.set(bytes)
  return out
}
