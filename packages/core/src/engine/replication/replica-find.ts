// Replicas on a pool, found by their keys (replica-keys.ts): the replica VMs and restore points (their
// snapshots) of one job, schedule, source VM and target SR, newest first, and what failed or killed
// attempts left (objects still marked pending, and replica disks no VM uses). Read with
// get_all_records: the state right now, never a cache that may lag behind our own changes.
import { NULL_REF, type Ref, type XapiClient, type XapiRecord } from '../../xapi/index.js'
import { REPLICA, replicaKeys, type ReplicaKeys } from './replica-keys.js'

export interface ReplicaObject {
  readonly ref: Ref
  readonly record: XapiRecord
  readonly keys: ReplicaKeys
}

export interface ReplicaScope {
  readonly jobId: string
  readonly scheduleId: string
  readonly vmUuid: string
  readonly srUuid: string
}

export interface ReplicaSet {
  /** Complete replica VMs, newest first. */
  readonly replicas: ReplicaObject[]
  /** Complete restore points (snapshots of replica VMs), newest first. */
  readonly points: ReplicaObject[]
  /** VMs and snapshots an attempt left pending. */
  readonly leftoverVms: ReplicaObject[]
  /** Replica disks no VM uses (not snapshots, no VBD, no VM's memory image). */
  readonly leftoverVdis: Ref[]
}

/** Every replica VM and restore point on the pool (any job): for listings and failover. */
export async function allReplicas(xapi: XapiClient, signal?: AbortSignal): Promise<ReplicaObject[]> {
  return replicasIn(await xapi.call<Record<Ref, XapiRecord>>('VM.get_all_records', [], signal))
}

function replicasIn(vms: Record<Ref, XapiRecord>): ReplicaObject[] {
  const out: ReplicaObject[] = []
  for (const [ref, record] of Object.entries(vms)) {
    const keys = replicaKeys(record)
    if (keys !== undefined) out.push({ ref, record, keys })
  }
  return out.sort(newestFirst)
}

/** The replicas, restore points and leftovers of one scope: three calls, sent together. */
export async function findReplicas(
  xapi: XapiClient,
  scope: ReplicaScope,
  signal?: AbortSignal,
): Promise<ReplicaSet> {
  const [vms, sr, vdis] = await Promise.all([
    xapi.call<Record<Ref, XapiRecord>>('VM.get_all_records', [], signal),
    xapi.call<Ref>('SR.get_by_uuid', [scope.srUuid], signal),
    xapi.call<Record<Ref, XapiRecord>>('VDI.get_all_records', [], signal),
  ])
  return { ...sortReplicas(vms, scope), leftoverVdis: leftoverVdis(vms, sr, vdis, scope) }
}

/** The replicas and restore points of one scope, and pending VMs, without the leftover disks: one call. */
export async function findReplicaVms(
  xapi: XapiClient,
  scope: ReplicaScope,
  signal?: AbortSignal,
): Promise<Omit<ReplicaSet, 'leftoverVdis'>> {
  return sortReplicas(await xapi.call<Record<Ref, XapiRecord>>('VM.get_all_records', [], signal), scope)
}

function sortReplicas(vms: Record<Ref, XapiRecord>, scope: ReplicaScope): Omit<ReplicaSet, 'leftoverVdis'> {
  const mine = replicasIn(vms).filter((o) => inScope(o, scope))
  const pending = (o: ReplicaObject): boolean => o.keys.pending !== undefined || o.keys.srUuid === undefined
  const complete = mine.filter((o) => !pending(o) && o.keys.srUuid === scope.srUuid)
  return {
    replicas: complete.filter((o) => o.record.is_a_snapshot !== true),
    points: complete.filter((o) => o.record.is_a_snapshot === true),
    leftoverVms: mine.filter(pending),
  }
}

function inScope(o: ReplicaObject, scope: ReplicaScope): boolean {
  const target = (o.record.other_config as Record<string, string>)[REPLICA.target] ?? o.keys.srUuid
  return (
    o.keys.failedOver === undefined &&
    o.keys.jobId === scope.jobId &&
    o.keys.scheduleId === scope.scheduleId &&
    o.keys.vmUuid === scope.vmUuid &&
    target === scope.srUuid
  )
}

function leftoverVdis(
  vms: Record<Ref, XapiRecord>,
  sr: Ref,
  vdis: Record<Ref, XapiRecord>,
  scope: ReplicaScope,
): Ref[] {
  const images = new Set(Object.values(vms).map((vm) => String(vm.suspend_VDI ?? NULL_REF)))
  return Object.entries(vdis)
    .filter(([ref, r]) => {
      const keys = replicaKeys(r)
      if (keys === undefined || r.SR !== sr || r.is_a_snapshot === true || images.has(ref)) return false
      const used = ((r.VBDs as Ref[] | undefined) ?? []).length > 0
      return (
        !used &&
        keys.jobId === scope.jobId &&
        keys.scheduleId === scope.scheduleId &&
        keys.vmUuid === scope.vmUuid
      )
    })
    .map(([ref]) => ref)
}

/**
 * Newest first: by XO's datetime (seconds), then by when Strata wrote it (milliseconds: two runs in one
 * second), then by run; a replica VM before its own restore point.
 */
export function newestFirst(a: ReplicaObject, b: ReplicaObject): number {
  return (
    b.keys.datetime.localeCompare(a.keys.datetime) ||
    (b.keys.madeAt ?? '').localeCompare(a.keys.madeAt ?? '') ||
    (b.keys.runId ?? '').localeCompare(a.keys.runId ?? '') ||
    Number(b.record.is_a_snapshot !== true) - Number(a.record.is_a_snapshot !== true)
  )
}
