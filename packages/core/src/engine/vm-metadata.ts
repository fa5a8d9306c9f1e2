// What a restore point records about its VM (the manifest's metadata): the records needed to rebuild it
// elsewhere (xapi.md §2.3) and, per disk, the live VDI and snapshot VDI the next run checks its base with.
import type { TaskContext } from '../shared/index.js'
import { NULL_REF, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'
import type { PointMemoryMetadata } from './vm-memory.js'
import type { TakenSnapshot } from './vm-snapshot.js'
import { record, vbdRecordsOf } from '../xapi/index.js'

export interface PointDiskMetadata {
  /** uuid of the VM's VDI. */
  readonly source: string
  /** uuid of the snapshot VDI the data was read from: the next run's base if XAPI still has it. */
  readonly snapshot: string
  readonly vdi: XapiRecord
  readonly vbd: XapiRecord
}

export interface PointMetadata {
  readonly kind: 'strata-vm'
  readonly version: 1
  readonly vm: XapiRecord
  readonly disks: PointDiskMetadata[]
  /** CD drives and other non-disk VBDs, recreated empty. */
  readonly otherVbds: XapiRecord[]
  readonly vifs: (XapiRecord & { $network: { uuid: string; name_label: string } })[]
  readonly vtpms: { is_unique: boolean; contents: string }[]
  readonly runId: string
  /** Whether the point holds the VM's memory image (`memory`), not merely whether the job asked for it. */
  readonly withMemory: boolean
  /** The memory image of a backup with memory of a running VM (absent in points without). */
  readonly memory?: PointMemoryMetadata
}

export function isPointMetadata(value: unknown): value is PointMetadata {
  return typeof value === 'object' && value !== null && (value as PointMetadata).kind === 'strata-vm'
}

export async function collectMetadata(
  task: TaskContext,
  xapi: XapiClient,
  vm: Ref,
  vmRecord: XapiRecord,
  snap: TakenSnapshot,
  extra: { runId: string; withMemory: boolean; memory?: PointMemoryMetadata },
): Promise<PointMetadata> {
  const { signal } = task
  const disks = snap.disks.map((d) => ({
    source: String(d.live.vdiRecord.uuid),
    snapshot: String(d.record.uuid),
    vdi: d.live.vdiRecord,
    vbd: d.live.vbdRecord,
  }))
  const diskVbds = new Set([...snap.disks, ...snap.nobak].map((d) => ('live' in d ? d.live.vbd : d.vbd)))
  const others = ((vmRecord.VBDs as Ref[] | undefined) ?? []).filter((vbd) => !diskVbds.has(vbd))
  const otherVbds = (await vbdRecordsOf(xapi, others, signal))
    .map((v) => v.record)
    .filter((r) => r.type !== 'Disk')
  const vifs: PointMetadata['vifs'] = []
  for (const vif of (vmRecord.VIFs as Ref[] | undefined) ?? []) {
    const r = await record(xapi, 'VIF', vif, signal)
    const net = r.network === NULL_REF ? {} : await record(xapi, 'network', r.network as Ref, signal)
    vifs.push({ ...r, $network: { uuid: String(net.uuid ?? ''), name_label: String(net.name_label ?? '') } })
  }
  const vtpms: PointMetadata['vtpms'] = []
  for (const vtpm of (vmRecord.VTPMs as Ref[] | undefined) ?? []) {
    const r = await record(xapi, 'VTPM', vtpm, signal)
    const contents = await xapi.call<string>('VTPM.get_contents', [vtpm], signal)
    vtpms.push({ is_unique: r.is_unique === true, contents })
  }
  return { kind: 'strata-vm', version: 1, vm: vmRecord, disks, otherVbds, vifs, vtpms, ...extra }
}
