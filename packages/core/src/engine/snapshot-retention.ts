// Backup snapshots of one job/schedule left on the pool: the newest `keep` exported ones stay (the next
// run's base); older ones go. With keep = 0 a CBT snapshot is reduced to metadata (VDI.data_destroy) so the
// next run still gets its changed blocks; leftovers of failed runs are removed.
import type { TaskContext } from '../shared/index.js'
import { dataDestroy, destroyVm, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'
import { TAG } from './vm-snapshot.js'
import { record, undoCall, type VmDisk } from '../xapi/index.js'

interface SnapshotGroup {
  readonly run: string
  readonly time: string
  readonly exported: boolean
  vm: Ref | undefined
  readonly vdis: { ref: Ref; record: XapiRecord }[]
}

export interface RetentionScope {
  readonly vm: Ref
  readonly disks: readonly VmDisk[]
  readonly jobId: string
  readonly scheduleId: string | undefined
  readonly keep: number
  /** This run's id: its snapshot is the newest whatever the clock says (snapshot_time has 1 s steps). */
  readonly currentRun: string
  /** Keep this run's snapshot although it was not exported (an interrupted run, resumed next time). */
  readonly spareCurrent?: boolean
}

/** `signal` is not the run's: retention runs after a cancelled run too. */
export async function applySnapshotRetention(
  task: TaskContext,
  xapi: XapiClient,
  scope: RetentionScope,
  signal: AbortSignal,
): Promise<void> {
  const groups = await findGroups(xapi, scope, signal)
  const exported = groups.filter((g) => g.exported && g.vdis.some((v) => v.record.type !== 'cbt_metadata'))
  const kept = new Set(exported.slice(0, scope.keep))
  // The newest exported group is the next run's base: without data it can still give CBT.
  const newest = groups.find((g) => g.exported)
  let removed = 0
  for (const group of groups) {
    if (kept.has(group) || (scope.spareCurrent === true && group.run === scope.currentRun)) continue
    if (group.vm !== undefined) await undoCall(() => destroyVm(xapi, group.vm!, { keepDisks: true, signal }))
    for (const vdi of group.vdis) {
      const keepMetadata = group === newest && vdi.record.cbt_enabled === true
      if (keepMetadata && vdi.record.type === 'cbt_metadata') continue
      if (keepMetadata) await undoCall(() => dataDestroy(xapi, vdi.ref, { signal }))
      else await undoCall(() => xapi.call('VDI.destroy', [vdi.ref], signal))
    }
    removed++
  }
  task.set({ snapshotsKept: kept.size, snapshotsRemoved: removed })
}

/** This job/schedule's snapshots of the VM's disks, grouped by run, newest first. */
async function findGroups(
  xapi: XapiClient,
  scope: RetentionScope,
  signal: AbortSignal,
): Promise<SnapshotGroup[]> {
  const groups = new Map<string, SnapshotGroup>()
  for (const disk of scope.disks) {
    for (const ref of await xapi.call<Ref[]>('VDI.get_snapshots', [disk.vdi], signal)) {
      const r = await record(xapi, 'VDI', ref, signal)
      const oc = (r.other_config ?? {}) as Record<string, string>
      if (oc[TAG.job] !== scope.jobId || (oc[TAG.schedule] ?? '') !== (scope.scheduleId ?? '')) continue
      const run = oc[TAG.run] ?? ''
      let group = groups.get(run)
      if (group === undefined) {
        const time = String(r.snapshot_time ?? '')
        group = { run, time, exported: oc[TAG.exported] === 'true', vm: undefined, vdis: [] }
        groups.set(run, group)
      }
      group.vdis.push({ ref, record: r })
    }
  }
  for (const snap of await xapi.call<Ref[]>('VM.get_snapshots', [scope.vm], signal)) {
    const oc = (await xapi.call<Record<string, string>>('VM.get_other_config', [snap], signal)) ?? {}
    const group = groups.get(oc[TAG.run] ?? '')
    if (oc[TAG.job] === scope.jobId && group !== undefined) group.vm = snap
  }
  const rank = (g: SnapshotGroup): number => (g.run === scope.currentRun ? 1 : 0)
  return [...groups.values()].sort(
    (a, b) => rank(b) - rank(a) || b.time.localeCompare(a.time) || b.run.localeCompare(a.run),
  )
}
