// Guest activity on demand: what a VM would do to its disks. Writes go to the VDI's leaf and mark CBT
// like tapdisk does, so tests can make changes and check that backups catch them.
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabState } from './api/lab-state.js'
import { BLOCK_SIZE } from './disks/disk-store.js'
import { debugfsWrite, PARTITION_OFFSET } from './disks/ext4-image.js'
import { XapiFailure } from './db/failure.js'

const GRANULE = 64 * 1024

export class Guest {
  constructor(readonly lab: LabState) {}

  async write(vdi: string, offset: number, data: Uint8Array): Promise<void> {
    if (!this.lab.disks.has(vdi)) throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata'])
    await this.lab.disks.write(vdi, offset, data)
    this.lab.cbt.mark(vdi, offset, data.length)
  }

  /** Writes `count` random 64 KiB granules at random places; returns their offsets. */
  async writeRandomBlocks(vdi: string, count: number, granule = GRANULE): Promise<number[]> {
    const size = this.lab.disks.size(vdi)
    const offsets: number[] = []
    for (let i = 0; i < count; i++) {
      const offset = Math.floor(Math.random() * Math.floor(size / granule)) * granule
      await this.write(vdi, offset, randomBytes(granule))
      offsets.push(offset)
    }
    return offsets
  }

  /**
   * A running guest writes `vm-data/<key>` (e.g. the health-check result a check script writes), which
   * xapi mirrors into VM.xenstore_data.
   */
  writeVmData(vm: string, key: string, value: string): void {
    const state = String(this.lab.db.get('VM', vm).power_state)
    if (state !== 'Running') throw new XapiFailure('VM_BAD_POWER_STATE', [vm, 'running', state.toLowerCase()])
    if (!/^[A-Za-z0-9_./-]{1,128}$/.test(key) || key.includes('..') || value.length > 1024)
      throw new XapiFailure('INVALID_VALUE', ['vm-data', key])
    this.lab.agents.writeVmData(vm, { [key]: value })
  }

  /** What the VM's guest is doing: booting, running (it reported), no bootable device, halted. */
  state(vm: string): string {
    this.lab.db.get('VM', vm)
    return this.lab.agents.state(vm)
  }

  /** The VM's disk VDIs in userdevice order. */
  disks(vm: string): string[] {
    return (this.lab.db.get('VM', vm).VBDs as string[])
      .map((vbd) => this.lab.db.get('VBD', vbd))
      .filter((vbd) => vbd.type === 'Disk' && vbd.VDI !== 'OpaqueRef:NULL')
      .sort((a, b) => Number(a.userdevice) - Number(b.userdevice))
      .map((vbd) => String(vbd.VDI))
  }

  /**
   * Writes a file into the ext4 partition of a VDI (seed disks: partition at 1 MiB). Only the 64 KiB
   * granules that changed are written back, so CBT and deltas see what a guest would have changed.
   */
  async writeFile(vdi: string, path: string, content: Uint8Array | string): Promise<void> {
    const size = this.lab.disks.size(vdi)
    const dir = await mkdtemp(join(tmpdir(), 'strata-lab-guest-'))
    try {
      const image = join(dir, 'fs.img')
      const before = await this.lab.disks.read(vdi, PARTITION_OFFSET, size - PARTITION_OFFSET)
      const fh = await open(image, 'w')
      await fh.write(before, 0, before.length, 0)
      await fh.close()
      await debugfsWrite(image, path, typeof content === 'string' ? Buffer.from(content) : content)
      const after = await open(image, 'r')
      try {
        for (let off = 0; off < before.length; off += BLOCK_SIZE) {
          const len = Math.min(BLOCK_SIZE, before.length - off)
          const now = Buffer.alloc(len)
          await after.read(now, 0, len, off)
          for (let g = 0; g < len; g += GRANULE) {
            const a = now.subarray(g, g + GRANULE)
            if (!a.equals(before.subarray(off + g, off + g + a.length)))
              await this.write(vdi, PARTITION_OFFSET + off + g, a)
          }
        }
      } finally {
        await after.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
