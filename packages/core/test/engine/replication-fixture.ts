// Helpers for the replication tests: two lab pools (a source with a running VM, a target), clients,
// limits, and the checks every case makes: each replica disk byte-identical to the source snapshot it
// holds (found by its `xo:backup:contentKey`), and the objects a replication may leave on the target.
import { expect } from 'vitest'
import type { LabPool } from '@strata/lab'
import { startLabPools, type LabPools } from '@strata/lab/testing'
import { createPoolLimits, type PoolLimits } from '../../src/engine/index.js'
import { XapiClient } from '../../src/xapi/index.js'

export interface TwoPools {
  readonly pools: LabPools
  readonly a: LabPool
  readonly b: LabPool
  readonly xa: XapiClient
  readonly xb: XapiClient
  readonly limits: PoolLimits
  /** The running source VM on pool A, its uuid and its disks (VDI refs). */
  readonly vm: string
  readonly vmUuid: string
  readonly disks: string[]
  close(): Promise<void>
}

export async function startTwoPools(disks = [16, 8], bootDelayMs = 200): Promise<TwoPools> {
  const vms = [{ name: 'web-01', power: 'Running' as const, disks }]
  const common = { authFailureDelayMs: 10, dom0DetachMs: 300, bootDelayMs }
  const pools = await startLabPools({ vms, ...common }, { vms: [], ...common })
  const [a, b] = pools.pools as [LabPool, LabPool]
  const xa = new XapiClient(a.connection)
  const xb = new XapiClient(b.connection)
  const vm = a.ref('VM', 'web-01')
  return {
    pools,
    a,
    b,
    xa,
    xb,
    limits: createPoolLimits(),
    vm,
    vmUuid: String(a.state.db.get('VM', vm).uuid),
    disks: a.guest.disks(vm),
    async close() {
      await xa.close()
      await xb.close()
      await pools.close()
    },
  }
}

/** The uuid of a lab pool's (first) SR. */
export function srUuidOf(lab: LabPool): string {
  const [, sr] = lab.state.db.find('SR', (r) => r.type !== 'iso' && r.content_type !== 'iso')[0]!
  return String(sr.uuid)
}

type Config = Record<string, string>
const oc = (r: Record<string, unknown>): Config => (r.other_config ?? {}) as Config

/** The VDIs of a VM on a lab pool (disks only, in userdevice order). */
export function vmVdis(lab: LabPool, vm: string): string[] {
  return lab.state.db
    .find('VBD', (r) => r.VM === vm && r.type === 'Disk' && r.empty !== true)
    .sort(([, x], [, y]) => Number(x.userdevice) - Number(y.userdevice))
    .map(([, r]) => String(r.VDI))
}

/**
 * Every disk of a replica (or restore point) on `target` equals the source snapshot VDI whose bytes it
 * says it holds; returns those snapshot VDIs' uuids.
 */
export async function expectReplicaEqualsSource(
  source: LabPool,
  target: LabPool,
  vm: string,
): Promise<string[]> {
  const vdis = vmVdis(target, vm)
  expect(vdis.length).toBeGreaterThan(0)
  const held: string[] = []
  for (const vdi of vdis) {
    const key = oc(target.state.db.get('VDI', vdi))['xo:backup:contentKey']
    expect(key, `contentKey of replica VDI ${vdi}`).toBeDefined()
    const [snap] = source.state.db.find('VDI', (r) => r.uuid === key)[0]!
    const [mine, theirs] = [await target.readDisk(vdi), await source.readDisk(snap)]
    expect(Buffer.compare(mine, theirs), `replica VDI ${vdi} vs source snapshot ${key}`).toBe(0)
    held.push(key!)
  }
  return held
}

/** VMs (replicas, restore points, others) on the target pool, by kind. */
export function targetVms(lab: LabPool): { replicas: string[]; points: string[]; others: string[] } {
  const out = { replicas: [] as string[], points: [] as string[], others: [] as string[] }
  for (const [ref, r] of lab.state.db.find('VM', (r) => r.is_control_domain !== true)) {
    if (r.is_a_template === true && r.is_a_snapshot !== true) continue
    // A failed-over VM is production now, whatever keys it still carries.
    const replica = oc(r)['xo:backup:job'] !== undefined && oc(r)['strata:replica:failover'] === undefined
    if (!replica) out.others.push(ref)
    else if (r.is_a_snapshot === true) out.points.push(ref)
    else out.replicas.push(ref)
  }
  return out
}

/** VDIs on the target that no VM, snapshot or memory image holds (what a failed attempt could leak). */
export function looseVdis(lab: LabPool): string[] {
  const { db } = lab.state
  const images = new Set(db.find('VM', () => true).map(([, r]) => String(r.suspend_VDI)))
  return db
    .find('VDI', (r) => r.type !== 'cbt_metadata' && r.is_a_snapshot !== true)
    .filter(([ref, r]) => ((r.VBDs as string[] | undefined) ?? []).length === 0 && !images.has(ref))
    .map(([ref]) => ref)
}

/**
 * What changed on each disk from `from` (snapshot uuids) to `to` (the live VDIs' refs of the source, in the
 * same order), from the lab's own changed-block logs: `bytes`, 64 KiB per bit set, and `sent`, the bytes
 * of the chunked raw uploads carrying them (per disk with changes: a 12-byte frame header per run of set
 * bits inside a 2 MiB block, the run's bytes, and the 12-byte end frame). Taken right before a delta run
 * (its snapshot then holds just these changes), it is what the run must read, write and send, exactly.
 */
export function changedBytes(
  source: LabPool,
  from: readonly string[],
  to: readonly string[],
): { bytes: number; sent: number } {
  const { db } = source.state
  const [granule, block] = [64 * 1024, 2 * 1024 * 1024]
  let [bytes, sent] = [0, 0]
  from.forEach((uuid, i) => {
    const base = db.find('VDI', (r) => r.uuid === uuid)[0]![0]
    const size = Number(db.get('VDI', to[i]!).virtual_size)
    const bits = Buffer.from(source.state.cbt.changed(base, to[i]!, size), 'base64')
    const set = (k: number): boolean => k >= 0 && (bits[k >> 3]! & (0x80 >> (k & 7))) !== 0
    let runs = 0
    for (let k = 0; k < bits.length * 8; k++) {
      if (!set(k)) continue
      bytes += Math.min(granule, size - k * granule)
      if (!set(k - 1) || (k * granule) % block === 0) runs++ // a frame ends at a block's end
    }
    if (runs > 0) sent += runs * 12 + 12
  })
  sent += bytes
  return { bytes, sent }
}
