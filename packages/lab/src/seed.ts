// The seed state of a lab pool (xapi.md §10.2): pool, hosts with their dom0, a local SR with PBDs, a
// network with purpose nbd and PIFs, a default template, and guest VMs whose disks hold an MBR and an
// ext4 filesystem with files.
import { randomUUID } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LabState } from './api/lab-state.js'
import { createVbd } from './api/device-methods.js'
import { createVdi } from './api/vdi-methods.js'
import { randomMac } from './api/vm-copy.js'
import {
  hostDefaults,
  networkDefaults,
  NULL,
  pbdDefaults,
  pifDefaults,
  poolDefaults,
  srDefaults,
  vifDefaults,
  vmDefaults,
} from './db/schema.js'
import { makeExt4Disk } from './disks/ext4-image.js'

const MiB = 1024 * 1024

export interface SeedHost {
  name: string
  address: string
}

export interface SeedResult {
  pool: string
  hosts: string[]
  sr: string
  network: string
}

export interface SeedPool {
  /** The pool's name_label. */
  name: string
  hosts: SeedHost[]
  version: { brand: string; product: string; xapi: string; minor: number; restricted: boolean }
  nbdPurpose: string[]
  /** physical_size of the local SR, in bytes. */
  srSize: number
}

export function seedInfrastructure(lab: LabState, spec: SeedPool): SeedResult {
  const { hosts, version, nbdPurpose } = spec
  const { db } = lab
  const restricted = String(version.restricted)
  const pool = db.create('pool', {
    ...poolDefaults(),
    name_label: spec.name,
    restrictions: { restrict_vtpm: restricted, restrict_cbt: restricted },
  })
  const network = db.create('network', {
    ...networkDefaults(),
    name_label: 'Pool-wide network associated with eth0',
    bridge: 'xenbr0',
    purpose: nbdPurpose,
  })
  const sr = db.create('SR', {
    ...srDefaults(),
    name_label: 'Local storage',
    type: 'ext',
    physical_size: spec.srSize,
  })
  const hostRefs: string[] = []
  for (const h of hosts) {
    const host = db.create('host', {
      ...hostDefaults(),
      name_label: h.name,
      hostname: h.name,
      address: h.address,
      API_version_minor: version.minor,
      software_version: {
        product_brand: 'XCP-ng',
        product_version: version.product,
        xapi: version.xapi,
        platform_name: 'XCP',
      },
    })
    const dom0 = db.create('VM', {
      ...vmDefaults(),
      name_label: `Control domain on host: ${h.name}`,
      is_control_domain: true,
      power_state: 'Running',
      resident_on: host,
      domid: 0,
    })
    const pif = db.create('PIF', { ...pifDefaults(), network, host, IP: h.address, MAC: randomMac() })
    db.update('host', host, { control_domain: dom0, PIFs: [pif], resident_VMs: [dom0] })
    db.update('network', network, { PIFs: [...(db.get('network', network).PIFs as string[]), pif] })
    hostRefs.push(host)
  }
  // A local SR is attached to the first host only: transfers to the other host get a 302.
  const pbd = db.create('PBD', {
    ...pbdDefaults(),
    host: hostRefs[0],
    SR: sr,
    device_config: { device: '/dev/sda3' },
  })
  db.update('SR', sr, { PBDs: [pbd] })
  db.update('host', hostRefs[0]!, { PBDs: [pbd] })
  db.update('pool', pool, { master: hostRefs[0], default_SR: sr, suspend_image_SR: sr, crash_dump_SR: sr })
  db.create('VM', {
    ...vmDefaults(),
    name_label: 'Debian Bookworm 12',
    is_a_template: true,
    is_default_template: true,
    other_config: { default_template: 'true', 'install-methods': 'cdrom,nfs,http,ftp' },
  })
  return { pool, hosts: hostRefs, sr, network }
}

export interface SeedVm {
  name: string
  power: 'Running' | 'Halted'
  tags?: string[]
  /** Disk sizes in MiB; each holds an MBR + ext4 partition with a few files. */
  disks: number[]
}

export const DEFAULT_VMS: SeedVm[] = [
  { name: 'web-01', power: 'Running', tags: ['prod', 'web'], disks: [64, 32] },
  { name: 'db-01', power: 'Halted', tags: ['prod'], disks: [48] },
]

export async function seedVm(lab: LabState, infra: SeedResult, spec: SeedVm): Promise<string> {
  const { vm, vdis } = await createSeedVm(lab, infra, { ...spec, diskBytes: spec.disks.map((d) => d * MiB) })
  for (const [i, vdi] of vdis.entries()) {
    await fillDisk(lab, vdi, lab.disks.size(vdi), `${spec.name}-${i}`, {
      'etc/hostname': `${spec.name}\n`,
      'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
      [`srv/${spec.name}/disk-${i}.txt`]: `disk ${i} of ${spec.name}, seeded by the Strata lab\n`,
      'var/log/seed.log': Array.from({ length: 200 }, (_, k) => `line ${k} of the seed log\n`).join(''),
    })
  }
  return vm
}

/** A seed VM's records and empty disks: VDIs, disk VBDs, an empty CD drive, a VIF, its power state. */
export async function createSeedVm(
  lab: LabState,
  infra: SeedResult,
  spec: { name: string; power: 'Running' | 'Halted'; tags?: string[]; diskBytes: number[] },
): Promise<{ vm: string; vdis: string[] }> {
  const { db } = lab
  const host = infra.hosts[0]!
  const vm = db.create('VM', {
    ...vmDefaults(),
    name_label: spec.name,
    tags: spec.tags ?? [],
    other_config: { mac_seed: randomUUID(), base_template_name: 'Debian Bookworm 12' },
    bios_strings: { 'bios-vendor': 'Xen', 'system-manufacturer': 'Xen', 'system-product-name': 'HVM domU' },
  })
  const vdis: string[] = []
  for (const [i, bytes] of spec.diskBytes.entries()) {
    const vdi = await createVdi(lab, {
      name_label: `${spec.name} ${i === 0 ? 'root' : `data ${i}`}`,
      name_description: 'Created by the lab seed',
      SR: infra.sr,
      virtual_size: bytes,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    })
    createVbd(lab, {
      VM: vm,
      VDI: vdi,
      userdevice: String(i),
      bootable: i === 0,
      mode: 'RW',
      type: 'Disk',
      other_config: { owner: '' },
    })
    vdis.push(vdi)
  }
  createVbd(lab, { VM: vm, VDI: NULL, userdevice: '3', mode: 'RO', type: 'CD', empty: true })
  const vif = db.create('VIF', {
    ...vifDefaults(),
    VM: vm,
    network: infra.network,
    device: '0',
    MAC: randomMac(),
    MAC_autogenerated: true,
  })
  db.update('VM', vm, { VIFs: [vif] })
  db.update('network', infra.network, { VIFs: [...(db.get('network', infra.network).VIFs as string[]), vif] })
  if (spec.power === 'Running') {
    db.update('VM', vm, { power_state: 'Running', resident_on: host, domid: 1 })
    for (const vbd of db.get('VM', vm).VBDs as string[])
      if (db.get('VBD', vbd).empty !== true) db.update('VBD', vbd, { currently_attached: true })
    db.update('VIF', vif, { currently_attached: true })
  }
  return { vm, vdis }
}

/** Makes the filesystem image and copies its non-zero 64 KiB granules into the VDI. */
async function fillDisk(
  lab: LabState,
  vdi: string,
  size: number,
  label: string,
  files: Record<string, string>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-lab-seed-'))
  try {
    const image = join(dir, 'disk.img')
    await makeExt4Disk(image, size, label.slice(0, 16), files)
    const fh = await open(image, 'r')
    try {
      const buf = Buffer.alloc(64 * 1024)
      for (let off = 0; off < size; off += buf.length) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, off)
        if (buf.subarray(0, bytesRead).some((b) => b !== 0))
          await lab.disks.write(vdi, off, buf.subarray(0, bytesRead))
      }
    } finally {
      await fh.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
