// File conversions behind `strata vhd to-raw` and `strata vhd from-raw`.
import { basename, dirname, relative } from 'node:path'
import { throwIfAborted } from '../../shared/abort.js'
import { DEFAULT_BLOCK_SIZE, SECTOR_SIZE } from '../constants.js'
import { formatUuid, isZero, roundUp } from '../bytes.js'
import type { VhdChain } from '../chain.js'
import { VhdError, VhdErrorCode } from '../errors.js'
import { relativeLocators } from '../locators.js'
import { planVhd, writeVhd, type VhdWriterParent } from '../writer.js'
import { FileAccess, readFileChunks } from './file-access.js'
import { openVhdFileStream } from './file-stream.js'
import { openVhdChain } from './open-chain.js'
import {
  RAW_WRITE_WINDOW,
  writeChunks,
  writeFileAtomically,
  writeRawBlocks,
  type RawBlock,
} from './output.js'

export interface ConvertOptions {
  signal?: AbortSignal
  /** fsync the output before renaming it into place (default true). */
  sync?: boolean
}

export interface ToRawResult {
  size: number
  chain: string[]
  blocksWritten: number
}

/** Writes the disk a VHD (with its parents, if differencing) holds to a sparse raw file. */
export async function vhdToRaw(
  vhdPath: string,
  outPath: string,
  options: ConvertOptions = {},
): Promise<ToRawResult> {
  const { signal } = options
  const sync = options.sync ?? true
  const chain = await openVhdChain(vhdPath, { signal })
  try {
    const single = chain.disks.length === 1 && chain.tip.footer.diskType === 'dynamic'
    const blocks = single ? streamBlocks(vhdPath, signal) : chainBlocks(chain, signal)
    const blocksWritten = await writeFileAtomically(
      outPath,
      // A durable output goes around the page cache (direct I/O); one left to the page cache stays there.
      (handle, temp) =>
        writeRawBlocks(handle, blocks, chain.size, chain.blockSize, signal, sync ? temp : undefined),
      options,
    )
    return { size: chain.size, chain: chain.disks.map((d) => d.name), blocksWritten }
  } finally {
    await chain.close()
  }
}

/** The fast path: one pass over the file in large sequential reads (the streaming reader). */
async function* streamBlocks(path: string, signal?: AbortSignal): AsyncGenerator<RawBlock> {
  const stream = await openVhdFileStream(path, { signal, recycleAfterBlocks: RAW_WRITE_WINDOW })
  // A dynamic disk: the reader yields the clear sectors of a partial block as zeros.
  for await (const block of stream.blocks(signal)) yield { index: block.index, data: block.data }
}

/** Block by block through the chain, reading the next block while the current one is written. */
async function* chainBlocks(chain: VhdChain, signal?: AbortSignal): AsyncGenerator<RawBlock> {
  const read = (i: number): Promise<Uint8Array | undefined> | undefined => {
    if (i >= chain.blockCount) return undefined
    const p = chain.readBlock(i, signal)
    p.catch(() => undefined) // awaited in order below
    return p
  }
  let next = read(0)
  for (let index = 0; next !== undefined; index++) {
    const data = await next
    next = read(index + 1)
    if (data !== undefined) yield { index, data }
  }
}

export interface FromRawOptions extends ConvertOptions {
  /** Makes a differencing VHD holding only the blocks that differ from this VHD (chain). */
  parentPath?: string
}

export interface FromRawResult {
  size: number
  length: number
  blocks: number
  blockCount: number
  uuid: string
  parent?: { uuid: string; name: string }
}

/** Writes a dynamic VHD of a raw image (zero blocks left out), or a differencing one over a parent. */
export async function rawToVhd(
  rawPath: string,
  outPath: string,
  options: FromRawOptions = {},
): Promise<FromRawResult> {
  const { signal } = options
  const raw = await FileAccess.open(rawPath)
  const chain =
    options.parentPath === undefined ? undefined : await openVhdChain(options.parentPath, { signal })
  try {
    if (raw.size === 0) throw new VhdError(VhdErrorCode.writerInput, `${rawPath}: empty raw image`)
    const size = roundUp(raw.size, SECTOR_SIZE)
    const blockSize = chain?.blockSize ?? DEFAULT_BLOCK_SIZE
    const readRaw = (index: number): Promise<Uint8Array> =>
      raw.read(index * blockSize, Math.min(blockSize, raw.size - index * blockSize), signal)
    const indexes = await changedBlocks(rawPath, blockSize, chain, signal)
    let parent: VhdWriterParent | undefined
    if (chain !== undefined) {
      const name = relative(dirname(outPath), options.parentPath!)
      parent = {
        uuid: chain.tip.footer.uuid,
        timestamp: chain.tip.footer.timestamp,
        unicodeName: name,
        locators: relativeLocators(name),
      }
    }
    const plan = planVhd({ size, blockSize, blockIndexes: indexes, parent })
    async function* blocks(): AsyncGenerator<{ index: number; data: Uint8Array }> {
      // One read ahead: the next block comes off the disk while this one is written.
      let next = indexes.length > 0 ? readRaw(indexes[0]!) : undefined
      for (let k = 0; k < indexes.length; k++) {
        const data = await next!
        next = k + 1 < indexes.length ? readRaw(indexes[k + 1]!) : undefined
        next?.catch(() => undefined) // awaited on the next turn
        yield { index: indexes[k]!, data }
      }
    }
    await writeFileAtomically(
      outPath,
      (handle) => writeChunks(handle, writeVhd(plan, blocks(), signal), signal),
      options,
    )
    return {
      size,
      length: plan.length,
      blocks: indexes.length,
      blockCount: plan.header.maxTableEntries,
      uuid: formatUuid(plan.footer.uuid),
      ...(chain && {
        parent: { uuid: formatUuid(chain.tip.footer.uuid), name: basename(options.parentPath!) },
      }),
    }
  } finally {
    await raw.close()
    await chain?.close()
  }
}

/** One sequential pass over the raw image: the blocks that are not zero, or not what the parent holds. */
async function changedBlocks(
  rawPath: string,
  blockSize: number,
  chain: VhdChain | undefined,
  signal?: AbortSignal,
): Promise<number[]> {
  const indexes: number[] = []
  let index = 0
  // Each chunk is one block and is done with before the next is read: buffers can be recycled.
  for await (const data of readFileChunks(rawPath, { chunkSize: blockSize, recycle: 3, signal })) {
    throwIfAborted(signal)
    const base = chain === undefined ? undefined : await chain.readBlock(index, signal)
    if (!sameContent(data, base, chain, index)) indexes.push(index)
    index++
  }
  return indexes
}

/** Whether the raw bytes equal what the parent shows there (zeros past the parent's end). */
function sameContent(
  data: Uint8Array,
  base: Uint8Array | undefined,
  chain: VhdChain | undefined,
  index: number,
): boolean {
  if (base === undefined) return isZero(data)
  const visible = Math.max(0, Math.min(data.length, chain!.size - index * chain!.blockSize))
  return (
    Buffer.compare(data.subarray(0, visible), base.subarray(0, visible)) === 0 &&
    isZero(data.subarray(visible))
  )
}
