// VHD files and VhdDirectories as XO writes them (xo-backups.md §2.4–2.5, §3.1), made with Strata's VHD
// writer: full bitmaps, 2 MiB blocks, no parent locators, the parent named relative to the child.
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { randomBytes } from 'node:crypto'
import { collectBytes, planVhd, writeVhd, type VhdWriterParent } from '../../vhd/index.js'
import type { ChunkFilter } from '../format/vhd-directory.js'
import { BLOCK, type DiskImage } from './disk-images.js'

export interface MemberParent {
  readonly uuid: Uint8Array
  /** As XO stores it: the parent's alias or file name, relative to the child. */
  readonly name: string
}

export interface BuiltVhd {
  readonly uuid: Uint8Array
  /** file name → bytes, relative to the VHD file or the VhdDirectory. */
  readonly files: Map<string, Uint8Array>
}

function plan(
  image: DiskImage,
  blocks: readonly number[],
  parent: MemberParent | undefined,
  uuid: Uint8Array,
) {
  const writerParent: VhdWriterParent | undefined =
    parent === undefined ? undefined : { uuid: parent.uuid, timestamp: 0, unicodeName: parent.name }
  return planVhd({
    size: image.size,
    blockIndexes: [...blocks].sort((a, b) => a - b),
    uuid,
    creatorApplication: 'xo  ',
    parent: writerParent,
  })
}

/** A VHD file holding `blocks` of the image (all of a dynamic disk's data when it is the key VHD). */
export async function vhdFile(
  image: DiskImage,
  blocks: readonly number[],
  parent?: MemberParent,
): Promise<BuiltVhd> {
  const uuid = randomBytes(16)
  const p = plan(image, blocks, parent, uuid)
  const bytes = await collectBytes(
    writeVhd(
      p,
      [...p.blockIndexes].map((index) => ({ index, data: image.block(index) })),
    ),
  )
  return { uuid, files: new Map([['', bytes]]) }
}

export function compress(bytes: Uint8Array, filters: readonly ChunkFilter[]): Uint8Array {
  let out = bytes
  for (const f of filters) {
    out =
      f === 'gzip'
        ? gzipSync(out, { level: constants.Z_BEST_SPEED })
        : brotliCompressSync(out, {
            params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MIN_QUALITY },
          })
  }
  return out
}

export interface DirectoryOptions {
  readonly filters: readonly ChunkFilter[]
  /** Write chunk-filters.json even when there is no filter ('[]'); default: only with filters. */
  readonly filtersFile?: boolean
}

/** A VhdDirectory: footer, header, bit-array bat, chunk-filters.json and one file per block. */
export function vhdDirectory(
  image: DiskImage,
  blocks: readonly number[],
  options: DirectoryOptions,
  parent?: MemberParent,
): BuiltVhd {
  const uuid = randomBytes(16)
  const p = plan(image, blocks, parent, uuid)
  const files = new Map<string, Uint8Array>()
  const chunk = (bytes: Uint8Array): Uint8Array => compress(bytes, options.filters)
  files.set('footer', chunk(p.head.subarray(0, 512)))
  files.set('header', chunk(p.head.subarray(512, 1536)))
  const bat = new Uint8Array(Math.ceil(p.header.maxTableEntries / 8))
  for (const b of p.blockIndexes) {
    bat[b >> 3]! |= 0x80 >> (b & 7)
    const block = new Uint8Array(512 + BLOCK)
    block.fill(0xff, 0, 512)
    block.set(image.block(b), 512)
    files.set(`blocks/${Math.floor(b / 1000)}/${b % 1000}`, chunk(block))
  }
  files.set('bat', chunk(bat))
  if (options.filters.length > 0 || options.filtersFile === true) {
    files.set('chunk-filters.json', Buffer.from(JSON.stringify(options.filters)))
  }
  return { uuid, files }
}
