// Pure mappings between the units sources speak (CBT 64 KiB bits, VHD 2 MiB blocks) and repository
// chunk indexes, and back (chunks → VHD blocks for restores).

/** Chunk indexes covering the byte ranges of the given blocks, ascending, deduplicated, below `chunkCount`. */
export function blocksToChunks(
  blocks: Iterable<number>,
  blockSize: number,
  chunkSize: number,
  chunkCount: number,
): number[] {
  const out = new Set<number>()
  for (const block of blocks) {
    const first = Math.floor((block * blockSize) / chunkSize)
    const last = Math.floor(((block + 1) * blockSize - 1) / chunkSize)
    for (let c = first; c <= last && c < chunkCount; c++) out.add(c)
  }
  return [...out].sort((a, b) => a - b)
}

/** Every chunk index of a disk. */
export function allChunks(chunkCount: number): number[] {
  return Array.from({ length: chunkCount }, (_, i) => i)
}

/** Union of chunk lists, ascending. */
export function mergeChunks(...lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b)
}

/** Used entries of a VHD BAT (block indexes), ascending. */
export function usedBlocks(bat: Uint32Array): number[] {
  const out: number[] = []
  for (let i = 0; i < bat.length; i++) if (bat[i] !== 0xffffffff) out.push(i)
  return out
}
