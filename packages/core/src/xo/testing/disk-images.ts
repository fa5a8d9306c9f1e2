// Raw disk images for XO remote tests: deterministic bytes, changed block by block between restore
// points, copied at each point so that every restore can be compared with the disk it was made from.
import { createCipheriv, createHash } from 'node:crypto'

export const BLOCK = 2 * 1024 * 1024

/** Deterministic bytes: incompressible ('random') or a repeated 16-byte pattern ('pattern'). */
export function fill(length: number, seed: string, kind: 'random' | 'pattern' = 'random'): Buffer {
  const out = Buffer.alloc(length)
  if (kind === 'pattern') {
    const unit = createHash('sha256').update(seed).digest().subarray(0, 16)
    for (let i = 0; i < length; i += 16) unit.copy(out, i, 0, Math.min(16, length - i))
    return out
  }
  // AES-CTR's keystream under a key made from the seed: fast, and the same bytes for the same seed.
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(out)
}

export class DiskImage {
  readonly bytes: Buffer

  constructor(
    readonly size: number,
    readonly kind: 'random' | 'pattern' = 'random',
  ) {
    this.bytes = Buffer.alloc(size)
  }

  get blockCount(): number {
    return Math.ceil(this.size / BLOCK)
  }

  /** Writes new bytes over part of each block listed (a block stays all zeros unless written). */
  write(blocks: readonly number[], seed: string): number[] {
    for (const b of blocks) {
      const start = b * BLOCK
      const length = Math.min(BLOCK, this.size - start)
      // Half a block: the other half keeps what older points wrote, so a chain must compose.
      const part = Math.max(512, Math.floor(length / 2 / 512) * 512)
      fill(Math.min(part, length), `${seed}:${b}`, this.kind).copy(this.bytes, start)
    }
    return [...blocks]
  }

  /** Block `index` as a VHD stores it: BLOCK bytes, zero-padded past the disk's end. */
  block(index: number): Buffer {
    const out = Buffer.alloc(BLOCK)
    this.bytes.copy(out, 0, index * BLOCK, Math.min(this.size, (index + 1) * BLOCK))
    return out
  }

  copy(): Buffer {
    return Buffer.from(this.bytes)
  }
}
