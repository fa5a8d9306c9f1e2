// A differencing disk over its parents, read as one disk. Each member must be the parent its child
// names (footer UUID = child's parent UUID); a block is composed from the newest member that has each
// sector, down to the root, whose missing sectors read as zeros.
import { SECTOR_SIZE } from './constants.js'
import { overlaySectors } from './bitmap.js'
import { formatUuid } from './bytes.js'
import { VhdError, VhdErrorCode } from './errors.js'
import type { VhdDisk } from './disk.js'
import type { VhdBlock } from './stream-reader.js'

export class VhdChain {
  /** Tip first, root last. */
  readonly disks: readonly VhdDisk[]

  constructor(disks: readonly VhdDisk[]) {
    if (disks.length === 0) throw new VhdError(VhdErrorCode.invalid, 'a VHD chain needs at least one disk')
    checkLinks(disks)
    this.disks = disks
  }

  get tip(): VhdDisk {
    return this.disks[0]!
  }
  get size(): number {
    return this.tip.size
  }
  get blockSize(): number {
    return this.tip.blockSize
  }
  get blockCount(): number {
    return Math.ceil(this.size / this.blockSize)
  }

  /** True when some member holds any sector of the block (otherwise it reads as zeros). */
  hasBlock(index: number): boolean {
    if (index < 0 || index >= this.blockCount) return false
    return this.disks.some((disk) =>
      disk.footer.diskType === 'fixed' ? index * this.blockSize < disk.size : disk.hasBlock(index),
    )
  }

  /** The block's content as the guest sees it, or undefined when it is all zeros because no member has it. */
  async readBlock(index: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (index < 0 || index >= this.blockCount) return undefined
    const layers: VhdBlock[] = []
    for (const disk of this.disks) {
      if (index * this.blockSize >= disk.size) continue // a smaller parent: the rest of the disk is zeros
      const block = await disk.readBlock(index, signal, this.blockSize)
      if (block === undefined) continue
      layers.push(block)
      if (block.full) break
    }
    if (layers.length === 0) return undefined
    if (layers.length === 1 && layers[0]!.full) return layers[0]!.data
    const out = new Uint8Array(this.blockSize)
    const sectors = this.blockSize / SECTOR_SIZE
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!
      if (layer.full) out.set(layer.data)
      else overlaySectors(out, layer.data, layer.bitmap, sectors)
    }
    return out
  }

  async close(): Promise<void> {
    await Promise.all(this.disks.map((disk) => disk.close()))
  }
}

function checkLinks(disks: readonly VhdDisk[]): void {
  const blockSize = disks[0]!.blockSize
  disks.forEach((disk, i) => {
    const parent = disks[i + 1]
    if (disk.footer.diskType !== 'fixed' && disk.blockSize !== blockSize) {
      throw new VhdError(
        VhdErrorCode.unsupported,
        `${disk.name}: block size ${disk.blockSize} differs from the chain's ${blockSize}`,
      )
    }
    if (!disk.isDifferencing) {
      if (parent !== undefined) {
        throw new VhdError(VhdErrorCode.invalid, `${disk.name}: a ${disk.footer.diskType} disk has no parent`)
      }
      return
    }
    const wanted = formatUuid(disk.header!.parentUuid)
    if (parent === undefined) {
      throw new VhdError(
        VhdErrorCode.parentNotFound,
        `${disk.name}: parent ${wanted} is missing from the chain`,
        {
          details: { parentUuid: wanted },
        },
      )
    }
    const found = formatUuid(parent.footer.uuid)
    if (found !== wanted) {
      throw new VhdError(
        VhdErrorCode.parentMismatch,
        `${disk.name}: parent ${parent.name} has UUID ${found}, the child expects ${wanted}`,
        { details: { expected: wanted, found } },
      )
    }
  })
}
