// The guests' side of a running VM: a started VM boots from its first disk and, `bootDelayMs` later,
// its guest agent reports a VM_guest_metrics record (os_version from /etc/os-release, PV drivers,
// networks) and writes the vm-data keys its /etc/strata-lab/vm-data file lists, which xapi mirrors into
// VM.xenstore_data as `vm-data/<key>`. A disk that is not bootable (see boot-sector.ts) never reports.
// A resumed guest reports again if it had booted when its memory was saved. Shutdown, destroy and
// suspend end the guest (a new boot generation makes pending reports moot).
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Semaphore } from '@strata/core/shared'
import type { Database } from './db/database.js'
import { guestMetricsDefaults, NULL, xapiDate } from './db/schema.js'
import { firstPartitionOffset, hasExtSuperblock, osVersion, parseVmData } from './disks/boot-sector.js'
import { BLOCK_SIZE, type DiskStore } from './disks/disk-store.js'
import { debugfsReadFiles } from './disks/ext4-image.js'
import type { MemoryHeader } from './memory-image.js'

/** Where a lab guest keeps the vm-data keys it writes after booting (the lab-only knob). */
export const VM_DATA_FILE = 'etc/strata-lab/vm-data'

export interface ResumedMemory {
  /** SHA-256 of the whole suspend VDI that was resumed, and its size. */
  sha256: string
  size: number
  header: MemoryHeader
}

/** What a guest found when it last booted (for tests and demos). */
export type GuestState = 'booting' | 'running' | 'no bootable device' | 'halted'

export class GuestAgents {
  /** How long a guest takes from VM.start (or resume) to its first report. */
  bootDelayMs: number
  readonly resumed = new Map<string, ResumedMemory>()
  readonly #generation = new Map<string, number>()
  readonly #state = new Map<string, GuestState>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inFlight = new Set<Promise<void>>()
  /** Disk inspections (debugfs on a copy of the disk) at once: many VMs started together queue. */
  readonly #inspections = new Semaphore(2)

  constructor(
    readonly db: Database,
    readonly disks: DiskStore,
    bootDelayMs = 500,
  ) {
    this.bootDelayMs = bootDelayMs
  }

  state(vm: string): GuestState {
    return this.#state.get(vm) ?? 'halted'
  }

  /** Starts the guest: a fresh boot from disk, or the resumed guest of a memory image. */
  boot(vm: string, resumedFrom?: MemoryHeader, delayMs = this.bootDelayMs): void {
    const generation = this.#next(vm)
    this.#state.set(vm, 'booting')
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      const work = this.#report(vm, generation, resumedFrom).catch(() => {
        if (this.#generation.get(vm) === generation) this.#state.set(vm, 'no bootable device')
      })
      this.#inFlight.add(work)
      void work.finally(() => this.#inFlight.delete(work))
    }, delayMs)
    timer.unref()
    this.#timers.add(timer)
  }

  /** Boots now and waits for the report (seed VMs, which were running before the lab started). */
  async bootNow(vm: string): Promise<void> {
    await this.#report(vm, this.#next(vm), undefined).catch(() => undefined)
  }

  /** The guest is gone (shutdown, destroy, suspend): its metrics go, pending reports are dropped. */
  halt(vm: string, keepMetrics = false): void {
    this.#next(vm)
    this.#state.set(vm, 'halted')
    if (keepMetrics || !this.db.has('VM', vm)) return
    const gm = String(this.db.get('VM', vm).guest_metrics)
    if (gm !== NULL) {
      this.db.update('VM', vm, { guest_metrics: NULL })
      this.db.delete('VM_guest_metrics', gm)
    }
  }

  /** A running guest writes `vm-data/<key>` (xapi mirrors the guest's vm-data into xenstore_data). */
  writeVmData(vm: string, keys: Record<string, string>): void {
    const current = this.db.get('VM', vm).xenstore_data as Record<string, string>
    const next = { ...current }
    for (const [k, v] of Object.entries(keys)) next[`vm-data/${k}`] = v
    this.db.update('VM', vm, { xenstore_data: next })
  }

  /** The os_version the guest reported ({} before it did). */
  osVersion(vm: string): Record<string, string> {
    const gm = String(this.db.get('VM', vm).guest_metrics)
    if (gm === NULL || !this.db.has('VM_guest_metrics', gm)) return {}
    return this.db.get('VM_guest_metrics', gm).os_version as Record<string, string>
  }

  /** The vm-data keys the guest wrote (for a memory image). */
  vmData(vm: string): Record<string, string> {
    const data = this.db.get('VM', vm).xenstore_data as Record<string, string>
    return Object.fromEntries(
      Object.entries(data)
        .filter(([k]) => k.startsWith('vm-data/'))
        .map(([k, v]) => [k.slice('vm-data/'.length), v]),
    )
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const vm of this.#generation.keys()) this.#next(vm)
    await Promise.allSettled([...this.#inFlight])
  }

  #next(vm: string): number {
    const n = (this.#generation.get(vm) ?? 0) + 1
    this.#generation.set(vm, n)
    return n
  }

  async #report(vm: string, generation: number, resumedFrom: MemoryHeader | undefined): Promise<void> {
    const current = (): boolean =>
      this.#generation.get(vm) === generation &&
      this.db.has('VM', vm) &&
      this.db.get('VM', vm).power_state === 'Running'
    if (!current()) return
    let found: { os: Record<string, string>; vmData: Record<string, string> } | undefined
    if (resumedFrom !== undefined)
      found = resumedFrom.booted ? { os: resumedFrom.os, vmData: resumedFrom.vmData } : undefined
    else
      found = await this.#inspections.run(() =>
        current() ? this.#inspectBootDisk(vm) : Promise.resolve(undefined),
      )
    if (!current()) return
    if (found === undefined) {
      this.#state.set(vm, 'no bootable device')
      return
    }
    this.#publish(vm, found.os)
    if (Object.keys(found.vmData).length > 0) this.writeVmData(vm, found.vmData)
    this.#state.set(vm, 'running')
  }

  /** The guest's metrics record: created, or refreshed when the guest had reported before. */
  #publish(vm: string, os: Record<string, string>): void {
    const row = this.db.get('VM', vm)
    const fields = {
      ...(Object.keys(os).length > 0 ? { os_version: os } : {}),
      PV_drivers_version: { major: '8', minor: '4', micro: '0', build: '1' },
      PV_drivers_up_to_date: true,
      PV_drivers_detected: true,
      networks: this.#networks(vm),
      other: {
        'feature-suspend': '1',
        'has-vendor-device': '0',
        'platform-feature-multiprocessor-suspend': '1',
      },
      last_updated: xapiDate(),
      live: true,
    }
    const existing = String(row.guest_metrics)
    if (existing !== NULL && this.db.has('VM_guest_metrics', existing)) {
      this.db.update('VM_guest_metrics', existing, fields)
      return
    }
    const gm = this.db.create('VM_guest_metrics', { ...guestMetricsDefaults(), ...fields })
    this.db.update('VM', vm, { guest_metrics: gm })
  }

  /** What the guest reports of its networks: an IPv4 and a link-local IPv6 per VIF, from its MAC. */
  #networks(vm: string): Record<string, string> {
    const out: Record<string, string> = {}
    for (const vif of this.db.get('VM', vm).VIFs as string[]) {
      if (!this.db.has('VIF', vif)) continue
      const row = this.db.get('VIF', vif)
      const mac = String(row.MAC).split(':')
      const byte = (i: number): number => parseInt(mac[i] ?? '0', 16) || 0
      const ip = `10.${byte(3)}.${byte(4)}.${Math.max(1, byte(5))}`
      out[`${String(row.device)}/ip`] = ip
      out[`${String(row.device)}/ipv4/0`] = ip
      out[`${String(row.device)}/ipv6/0`] = `fe80::${mac.slice(2).join('')}`
    }
    return out
  }

  /** The boot disk: the bootable disk VBD, else the first disk (userdevice order). */
  #bootDisk(vm: string): string | undefined {
    const vbds = (this.db.get('VM', vm).VBDs as string[])
      .filter((v) => this.db.has('VBD', v))
      .map((v) => this.db.get('VBD', v))
      .filter((v) => v.type === 'Disk' && v.VDI !== NULL && this.disks.has(String(v.VDI)))
      .sort((a, b) => Number(b.bootable) - Number(a.bootable) || Number(a.userdevice) - Number(b.userdevice))
    return vbds[0] === undefined ? undefined : String(vbds[0].VDI)
  }

  async #inspectBootDisk(
    vm: string,
  ): Promise<{ os: Record<string, string>; vmData: Record<string, string> } | undefined> {
    const vdi = this.#bootDisk(vm)
    if (vdi === undefined) return undefined
    const size = this.disks.size(vdi)
    const offset = firstPartitionOffset(await this.disks.read(vdi, 0, Math.min(512, size)))
    if (offset === undefined || offset + 2048 > size) return undefined
    if (!hasExtSuperblock(await this.disks.read(vdi, offset, 2048))) return undefined
    const files = await this.#readFiles(vdi, offset, ['etc/os-release', VM_DATA_FILE])
    return {
      os: osVersion(files.get('etc/os-release')?.toString('utf8') ?? ''),
      vmData: parseVmData(files.get(VM_DATA_FILE)?.toString('utf8') ?? ''),
    }
  }

  /** debugfs on a sparse copy of the disk's allocated blocks (the chain is not one file). */
  async #readFiles(vdi: string, offset: number, paths: string[]): Promise<Map<string, Buffer>> {
    const dir = await mkdtemp(join(tmpdir(), 'strata-lab-boot-'))
    try {
      const image = join(dir, 'disk.img')
      const fh = await open(image, 'w')
      try {
        const size = this.disks.size(vdi)
        await fh.truncate(size)
        for (const block of this.disks.allocated(vdi)) {
          const start = block * BLOCK_SIZE
          if (start + BLOCK_SIZE <= offset) continue
          const data = await this.disks.read(vdi, start, Math.min(BLOCK_SIZE, size - start))
          await fh.write(data, 0, data.length, start)
        }
      } finally {
        await fh.close()
      }
      return await debugfsReadFiles(image, offset, paths)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
