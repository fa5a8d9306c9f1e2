// One VM replicated to one SR. What attempts left is swept first; then every disk is written into a fresh
// state (a clone of the last restore point's disk taking only the changed blocks, or a new VDI taking a
// full copy), the memory image too, the replica VM is created over them, and, for a delta replication,
// snapshotted: that snapshot is the restore point the next run clones. Everything carries a pending
// marker until it is all there: only then are the keys completed and the previous replica removed, so a
// failure at any step leaves the previous replica as it was, complete and startable, and what this
// attempt made is destroyed now, or by the next attempt's sweep if the pool could not be reached.
import { anySignal, type TaskContext } from '../../shared/index.js'
import type { Ref, XapiClient } from '../../xapi/index.js'
import type { PointMetadata } from '../vm-metadata.js'
import type { TakenSnapshot } from '../vm-snapshot.js'
import { build, type ReplicaMade, type TargetContext, type TargetRun } from './replica-build.js'
import { planDisks } from './replica-disks.js'
import { findReplicaVms, findReplicas, type ReplicaObject, type ReplicaScope } from './replica-find.js'
import { REPLICA, XO, xoDateTime } from './replica-keys.js'
import { applyReplicaRetention } from './replica-retention.js'
import { destroyReplica, destroyVdis } from './replica-vm.js'

export type { ReplicaMade, TargetContext, TargetRun } from './replica-build.js'

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
