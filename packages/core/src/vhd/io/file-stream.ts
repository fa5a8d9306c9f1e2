// The streaming reader over a VHD file, with the file read in chunks lined up with its blocks: qemu,
// XAPI and we store blocks back to back, so each block then lies inside one chunk and is handed out
// without a copy. The layout is only a hint; a file laid out otherwise still reads correctly.
import { BAT_UNUSED, SECTOR_SIZE } from '../constants.js'
import type { VhdDisk } from '../disk.js'
import { bitmapSize } from '../header.js'
import { openVhdStream, type VhdStream } from '../stream-reader.js'
import { readFileChunks } from './file-access.js'
import { openVhdFile } from './open-chain.js'

export interface FileStreamOptions {
  signal?: AbortSignal
  /**
   * Reuse read buffers: the caller promises to be done with each block before it has pulled
   * `recycleAfterBlocks` more (e.g. the writes it keeps in flight). Default: never reuse.
   */
  recycleAfterBlocks?: number
}

const BLOCKS_PER_CHUNK = 4
/** Two reads in flight: the page-cache copies overlap each other as well as the parsing (bench: vhd). */
const READ_AHEAD = 2

export async function openVhdFileStream(path: string, options: FileStreamOptions = {}): Promise<VhdStream> {
  const { signal } = options
  const disk = await openVhdFile(path, { signal })
  let firstBlock: number | undefined
  let span = 0
  try {
    firstBlock = firstBlockOffset(disk)
    span = bitmapSize(disk.blockSize) + disk.blockSize
  } finally {
    await disk.close()
  }
  const window = options.recycleAfterBlocks
  const source = readFileChunks(path, {
    signal,
    chunkSize: span * BLOCKS_PER_CHUNK,
    firstChunkSize: firstBlock,
    readAhead: READ_AHEAD,
    // Worst case each block of the window sits in its own chunk (gaps between blocks), plus the chunk
    // being parsed, the ones read ahead, and one for the block being handed over.
    recycle: window === undefined ? 0 : window + 2 + READ_AHEAD,
  })
  return openVhdStream(source, { name: path, signal })
}

function firstBlockOffset(disk: VhdDisk): number | undefined {
  if (disk.bat === undefined) return undefined
  let min = BAT_UNUSED
  for (let i = 0; i < disk.blockCount; i++) if (disk.bat[i]! < min) min = disk.bat[i]!
  return min === BAT_UNUSED ? undefined : min * SECTOR_SIZE
}
