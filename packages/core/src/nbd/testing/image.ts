// A deterministic test disk image: blocks of pseudo-random data, holes (never written), written zeros
// and repeated bytes, in a fixed rotation, so that reads, block status and zero skipping all have work.
import { open } from 'node:fs/promises'

/** xorshift32: fast, seeded, good enough to defeat compression and dedup in tests and benchmarks. */
export function fillRandom(b: Buffer, seed: number): void {
  let x = seed | 1
  const words = Math.floor(b.length / 4)
  for (let i = 0; i < words; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b.writeInt32LE(x | 0, i * 4)
  }
}

export type BlockKind = 'random' | 'hole' | 'zeros' | 'repeated'
const ROTATION: BlockKind[] = ['random', 'hole', 'random', 'zeros', 'repeated', 'random', 'hole', 'random']

export function blockKind(index: number): BlockKind {
  return ROTATION[index % ROTATION.length]!
}

/** Writes a `size`-byte sparse image made of `blockSize` blocks (see ROTATION). */
export async function makeTestImage(path: string, size: number, blockSize = 1024 * 1024): Promise<void> {
  const file = await open(path, 'w')
  try {
    await file.truncate(size)
    const block = Buffer.allocUnsafe(blockSize)
    for (let i = 0; i * blockSize < size; i++) {
      const kind = blockKind(i)
      if (kind === 'hole') continue
      if (kind === 'random') fillRandom(block, i + 1)
      else block.fill(kind === 'zeros' ? 0 : i & 0xff || 1)
      const length = Math.min(blockSize, size - i * blockSize)
      await file.write(block, 0, length, i * blockSize)
    }
  } finally {
    await file.close()
  }
}
