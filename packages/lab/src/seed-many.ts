// Many small VMs for scale tests, cheaply: each gets one sparse disk of `diskSize` holding a single
// 64 KiB granule of its own random bytes at its end (so that no two VMs back up to the same chunks),
// and no filesystem (not bootable) unless `filesystem` is asked: then one mke2fs image is made and its
// non-zero granules are copied into every disk (bootable, with /etc/os-release).
import { mkdtemp, open, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabState } from './api/lab-state.js'
import { makeExt4Disk } from './disks/ext4-image.js'
import { LabOptionError } from './lab-errors.js'
import { createSeedVm, type SeedResult } from './seed.js'

const GRANULE = 64 * 1024
const MAX_COUNT = 10_000

export interface ManyVms {
  /** How many VMs (1 to 10 000). */
  count: number
  /** Each VM's disk: bytes, or a size like '64MiB' (K, M, G with or without iB/B; a 512 multiple). */
  diskSize: number | string
  /** Default Halted. */
  power?: 'Running' | 'Halted'
  /** An MBR and an ext4 filesystem in every disk (one mke2fs for all): the VMs boot. */
  filesystem?: boolean
  /** VM names are the prefix and a zero-padded number (default 'vm-': vm-001 … vm-200). */
  namePrefix?: string
  tags?: string[]
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

export function parseDiskSize(size: number | string): number {
  const m = typeof size === 'number' ? undefined : /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(size.trim())
  const bytes =
    typeof size === 'number'
      ? size
      : m === null || m === undefined
        ? NaN
        : Number(m[1]) * UNITS[m[2]!.toLowerCase()]!
  if (!Number.isSafeInteger(bytes) || bytes < GRANULE || bytes % 512 !== 0)
    throw new LabOptionError(
      'diskSize',
      `'${String(size)}' is not a size of at least 64 KiB in 512-byte sectors`,
    )
  return bytes
}

export async function seedManyVms(lab: LabState, infra: SeedResult, spec: ManyVms): Promise<string[]> {
  if (!Number.isInteger(spec.count) || spec.count < 1 || spec.count > MAX_COUNT)
    throw new LabOptionError('count', `${spec.count} is not a whole number between 1 and ${MAX_COUNT}`)
  const size = parseDiskSize(spec.diskSize)
  const template = spec.filesystem === true ? await filesystemGranules(size) : []
  const width = String(spec.count).length
  const vms: string[] = []
  for (let i = 1; i <= spec.count; i++) {
    const name = `${spec.namePrefix ?? 'vm-'}${String(i).padStart(Math.max(3, width), '0')}`
    const { vm, vdis } = await createSeedVm(lab, infra, {
      name,
      power: spec.power ?? 'Halted',
      tags: spec.tags,
      diskBytes: [size],
    })
    for (const [offset, data] of template) await lab.disks.write(vdis[0]!, offset, data)
    const last = Math.floor((size - 1) / GRANULE) * GRANULE
    await lab.disks.write(vdis[0]!, last, randomBytes(Math.min(GRANULE, size - last)))
    vms.push(vm)
  }
  return vms
}

/** The non-zero 64 KiB granules of a fresh MBR + ext4 image of `size` bytes. */
async function filesystemGranules(size: number): Promise<[number, Buffer][]> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lab-many-'))
  try {
    const image = join(dir, 'disk.img')
    await makeExt4Disk(image, size, 'lab-vm', {
      'etc/hostname': 'lab-vm\n',
      'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    })
    const out: [number, Buffer][] = []
    const fh = await open(image, 'r')
    try {
      // The last granule is left to each VM's own bytes.
      for (let off = 0; off + GRANULE < size; off += GRANULE) {
        const buf = Buffer.alloc(GRANULE)
        await fh.read(buf, 0, GRANULE, off)
        if (buf.some((b) => b !== 0)) out.push([off, buf])
      }
    } finally {
      await fh.close()
    }
    return out
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
