// One VM replicated to one SR. What attempts left is swept first; then every disk is written into a fresh
// state (a clone of the last restore point's disk taking only the changed blocks, or a new VDI taking a
// full copy), the memory image too, the replica VM is created over them, and, for a delta replication,
// snapshotted: that snapshot is the restore point the next run clones. Everything carries a pending
// marker until it is all there: only then are the keys completed and the previous replica removed, so a
// failure at any step leaves the previous replica as it was, complete and startable, and what this
// attempt made is destroyed now, or by the next attempt's sweep if the pool could not be reached.
import type { RetentionPolicy } from '../../retention/index.js'
import { anySignal, type TaskContext } from '../../shared/index.js'
import { checkpointVm, snapshotVm, vmDisks, type Ref, type XapiClient } from '../../xapi/index.js'
import type { PoolLimits } from '../limits.js'
import type { PointMetadata } from '../vm-metadata.js'
import type { TakenSnapshot } from '../vm-snapshot.js'
import { copyMemoryImage, copyReplicaDisk, planDisks, type CopySettings } from './replica-disks.js'
import { findReplicaVms, findReplicas, type ReplicaObject, type ReplicaScope } from './replica-find.js'
import { REPLICA, REPLICA_TAG, XO, replicaName, setKeys, xoDateTime } from './replica-keys.js'
import { applyReplicaRetention } from './replica-retention.js'
import { createReplicaVm, destroyReplica, destroyVdis } from './replica-vm.js'

export interface TargetContext {
  readonly source: XapiClient
  readonly target: XapiClient
  readonly sr: Ref
  /** The source pool's limits: each disk's transfer takes one of its slots. */
  readonly limits: PoolLimits
  readonly scope: ReplicaScope
  readonly networks?: Readonly<Record<string, string>>
}

export interface TargetRun extends CopySettings {
  readonly runId: string
  readonly jobName: string
  readonly mode: 'delta' | 'full'
  readonly snapshotTime: Date
  /** The source checkpoint's memory image, copied into each replica (none for a snapshot). */
  readonly memoryImage?: Ref
  readonly retention?: { readonly policy: RetentionPolicy; readonly timeZone: string }
}

export interface ReplicaMade {
  readonly vm: Ref
  readonly vmUuid: string
  readonly name: string
  /** The restore point (delta), and its uuid. */
  readonly point?: Ref
  readonly pointUuid?: string
  readonly full: boolean
  readonly bytesRead: number
  readonly bytesWritten: number
}

export async function replicateToTarget(
  task: TaskContext,
  ctx: TargetContext,
  snap: TakenSnapshot,
  meta: PointMetadata,
  run: TargetRun,
): Promise<ReplicaMade> {
  const { target } = ctx
  const { signal } = task
  const before = await findReplicas(target, ctx.scope, signal)
  await sweep(task, target, before)
  const base = run.mode === 'delta' ? before.points[0] : undefined
  if (run.mode === 'delta' && base === undefined)
    task.info('no restore point of this job on the SR yet: full copy')
  const plans = await planDisks(task, ctx.source, target, snap.disks, base)
  const keys = replicaKeysFor(ctx.scope, run, String(meta.vm.name_label ?? ''))
  const made = await build(task, ctx, { meta, plans, keys, run })
  // Complete: the previous replicas of a delta replication go (their restore points stay), while
  // retention judges the restore points (for a delta; the replicas of a full one, never retired).
  await Promise.all([
    run.mode === 'delta' ? retire(task, target, before.replicas) : undefined,
    retention(task, ctx, run, made),
  ])
  return made
}

/** What failed or killed attempts left on this SR for this VM: destroyed before anything else. */
async function sweep(
  task: TaskContext,
  xapi: XapiClient,
  found: { leftoverVms: ReplicaObject[]; leftoverVdis: Ref[] },
): Promise<void> {
  const { leftoverVms, leftoverVdis } = found
  if (leftoverVms.length === 0 && leftoverVdis.length === 0) return
  const signal = anySignal(task.signal, AbortSignal.timeout(300_000))
  // Restore points first: a pending VM's disks are its snapshots' parents in the chain.
  const ordered = [...leftoverVms].sort(
    (a, b) => Number(b.record.is_a_snapshot) - Number(a.record.is_a_snapshot),
  )
  for (const o of ordered) await destroyReplica(xapi, o.ref, signal)
  await destroyVdis(xapi, leftoverVdis, signal)
  task.info(`removed what an earlier attempt left: ${leftoverVms.length} VMs, ${leftoverVdis.length} disks`)
}

function replicaKeysFor(scope: ReplicaScope, run: TargetRun, vmName: string): Record<string, string> {
  return {
    [REPLICA.vmName]: vmName,
    [XO.job]: scope.jobId,
    [XO.schedule]: scope.scheduleId,
    [XO.vm]: scope.vmUuid,
    [XO.datetime]: xoDateTime(run.snapshotTime),
    [REPLICA.run]: run.runId,
    [REPLICA.madeAt]: new Date().toISOString(),
    [REPLICA.mode]: run.mode,
    [REPLICA.target]: scope.srUuid,
    [REPLICA.pending]: run.runId,
  }
}

interface BuildInput {
  readonly meta: PointMetadata
  readonly plans: Awaited<ReturnType<typeof planDisks>>
  readonly keys: Readonly<Record<string, string>>
  readonly run: TargetRun
}

/** Disks, memory, VM, restore point; on failure, everything made here is destroyed. */
async function build(task: TaskContext, ctx: TargetContext, input: BuildInput): Promise<ReplicaMade> {
  const { signal } = task
  const { meta, plans, keys, run } = input
  const pools = { source: ctx.source, target: ctx.target, sr: ctx.sr }
  const vdis: Ref[] = []
  let suspendVdi: Ref | undefined
  let vm: Ref | undefined
  let point: Ref | undefined
  try {
    const copies = []
    for (const [i, plan] of plans.entries()) {
      const diskKeys = {
        ...keys,
        [XO.copyOf]: String(plan.snapshot.live.vdiRecord.uuid),
        [XO.contentKey]: String(plan.snapshot.record.uuid),
      }
      const data = {
        disk: i,
        vdi: String(plan.snapshot.record.uuid),
        size: Number(plan.snapshot.record.virtual_size),
      }
      const copy = await task.child(
        'transfer',
        (t) => ctx.limits.transfers.run(() => copyReplicaDisk(t, pools, plan, diskKeys, run), t.signal),
        data,
      )
      vdis.push(copy.vdi)
      copies.push(copy)
    }
    const image = run.memoryImage
    if (image !== undefined) {
      const copy = await task.child('memory', (t) => copyMemoryImage(t, pools, image, keys, run))
      suspendVdi = copy.vdi
      copies.push(copy)
    }
    const memory = suspendVdi !== undefined
    const vmKeys = { ...keys, [REPLICA.memory]: String(memory) }
    const name = replicaName(String(meta.vm.name_label ?? ''), run.jobName, run.snapshotTime)
    const tag = REPLICA_TAG[run.mode]
    vm = await createReplicaVm(
      ctx.target,
      { meta, vdis, suspendVdi, name, tag, keys: vmKeys, networks: ctx.networks },
      signal,
    )
    if (run.mode === 'delta') point = await restorePoint(ctx.target, vm, name, memory, signal)
    await complete(ctx, vm, point, signal)
    const uuidOf = (ref: Ref) => ctx.target.call<string>('VM.get_uuid', [ref], signal)
    const [vmUuid, pointUuid] = await Promise.all([uuidOf(vm), point && uuidOf(point)])
    const full = copies.every((c) => c.full)
    const bytesRead = copies.reduce((n, c) => n + c.bytesRead, 0)
    const bytesWritten = copies.reduce((n, c) => n + c.bytesWritten, 0)
    const kept = point === undefined ? {} : { point, pointUuid }
    return { vm, vmUuid, name, ...kept, full, bytesRead, bytesWritten }
  } catch (error) {
    const cleanup = AbortSignal.timeout(300_000) // not the run's: a cancelled attempt is undone too
    if (point !== undefined) await destroyReplica(ctx.target, point, cleanup).catch(() => false)
    if (vm !== undefined) await destroyReplica(ctx.target, vm, cleanup).catch(() => false)
    const loose = suspendVdi === undefined ? vdis : [...vdis, suspendVdi]
    await destroyVdis(ctx.target, loose, cleanup).catch(() => undefined)
    throw error
  }
}

/** The replica as it is now, kept: a snapshot, or a checkpoint of a suspended replica (memory kept). */
async function restorePoint(
  xapi: XapiClient,
  vm: Ref,
  name: string,
  memory: boolean,
  signal: AbortSignal,
): Promise<Ref> {
  return memory ? checkpointVm(xapi, vm, name, { signal }) : snapshotVm(xapi, vm, name, { signal })
}

/**
 * The keys made complete: XO's `xo:backup:sr` added and the pending marker removed, the restore point
 * and the disks first, the VM last (a VM still pending is what a later sweep removes).
 */
async function complete(ctx: TargetContext, vm: Ref, point: Ref | undefined, signal: AbortSignal) {
  const { target } = ctx
  const keys = { [XO.sr]: ctx.scope.srUuid, [REPLICA.pending]: undefined }
  const owners = point === undefined ? [vm] : [point, vm]
  // Read together; written disks and images first (together: they are independent), then the owners.
  const parts = await Promise.all(
    owners.map((owner) =>
      Promise.all([vmDisks(target, owner, signal), target.call<Ref>('VM.get_suspend_VDI', [owner], signal)]),
    ),
  )
  const vdis = parts.flatMap(([disks, image]) => [
    ...disks.map((d) => d.vdi),
    ...(image === 'OpaqueRef:NULL' ? [] : [image]),
  ])
  await Promise.all(vdis.map((vdi) => setKeys(target, 'VDI', vdi, keys, signal)))
  for (const owner of owners) await setKeys(target, 'VM', owner, keys, signal)
}

/** The previous replica VMs of a delta replication (their restore points stay); failed-over ones stay. */
async function retire(
  task: TaskContext,
  xapi: XapiClient,
  replicas: readonly ReplicaObject[],
): Promise<void> {
  const signal = AbortSignal.timeout(300_000)
  for (const r of replicas) {
    const gone = await destroyReplica(xapi, r.ref, signal).catch(() => false)
    if (!gone)
      task.warn(
        `the previous replica '${String(r.record.name_label)}' is running or could not be removed: left`,
      )
  }
}

async function retention(
  task: TaskContext,
  ctx: TargetContext,
  run: TargetRun,
  made: ReplicaMade,
): Promise<void> {
  if (run.retention === undefined) return
  const signal = AbortSignal.timeout(300_000)
  const after = await findReplicaVms(ctx.target, ctx.scope, signal)
  const objects = run.mode === 'delta' ? after.points : after.replicas
  const protect = made.point ?? made.vm
  const { kept, removed } = await applyReplicaRetention(
    task,
    ctx.target,
    objects,
    { ...run.retention, protect },
    signal,
  )
  task.set({ kept, removed })
}
