// One replica built on its target: fresh disk states (clones of the last restore point's disks, or new
// VDIs), the source's data written into them, the memory image, the replica VM over them and, for a
// delta replication, its restore point; then the pending markers removed. Without memory the VM is
// created while the disks' data crosses (its disks are not attached: a Halted VM's VBDs are not), so
// that its XAPI calls are not waited for after the transfer; a suspended VM's disks are attached, so it
// comes after them. Whatever fails, everything made here is destroyed.
import type { RetentionPolicy } from '../../retention/index.js'
import type { TaskContext } from '../../shared/index.js'
import { checkpointVm, snapshotVm, vmDisks, type Ref, type XapiClient } from '../../xapi/index.js'
import type { PoolLimits } from '../limits.js'
import type { PointMetadata } from '../vm-metadata.js'
import {
  copyMemoryImage,
  fillReplicaDisk,
  freshReplicaDisk,
  type CopySettings,
  type DiskCopy,
  type DiskPlan,
} from './replica-disks.js'
import type { ReplicaScope } from './replica-find.js'
import { REPLICA, REPLICA_TAG, XO, replicaName, setKeys } from './replica-keys.js'
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
  readonly bytesSent: number
}

export interface BuildInput {
  readonly meta: PointMetadata
  readonly plans: readonly DiskPlan[]
  readonly keys: Readonly<Record<string, string>>
  readonly run: TargetRun
}

/** What exists so far on the target: destroyed if the build fails. */
interface Made {
  readonly vdis: Ref[]
  suspendVdi?: Ref
  vm?: Ref
  point?: Ref
  /** The VM's creation while the disks are written (settled before anything is destroyed). */
  creating?: Promise<void>
}

/** Disks, memory, VM, restore point; on failure, everything made here is destroyed. */
export async function build(task: TaskContext, ctx: TargetContext, input: BuildInput): Promise<ReplicaMade> {
  const made: Made = { vdis: [] }
  try {
    return await buildSteps(task, ctx, input, made)
  } catch (error) {
    await undo(ctx.target, made)
    throw error
  }
}

async function buildSteps(
  task: TaskContext,
  ctx: TargetContext,
  input: BuildInput,
  made: Made,
): Promise<ReplicaMade> {
  const { signal } = task
  const { meta, run } = input
  const name = replicaName(String(meta.vm.name_label ?? ''), run.jobName, run.snapshotTime)
  const copies = await writeReplica(task, ctx, input, made, name)
  const vm = made.vm!
  const memory = made.suspendVdi !== undefined
  if (run.mode === 'delta') made.point = await restorePoint(ctx.target, vm, name, memory, signal)
  const { point } = made
  const owned = made.suspendVdi === undefined ? made.vdis : [...made.vdis, made.suspendVdi]
  const uuidOf = (ref: Ref) => ctx.target.call<string>('VM.get_uuid', [ref], signal)
  const [vmUuid, pointUuid] = await Promise.all([
    uuidOf(vm),
    point && uuidOf(point),
    complete(ctx, { vm, point, vdis: owned }, signal),
  ])
  const full = copies.every((c) => c.full)
  const bytesRead = copies.reduce((n, c) => n + c.bytesRead, 0)
  const bytesWritten = copies.reduce((n, c) => n + c.bytesWritten, 0)
  const bytesSent = copies.reduce((n, c) => n + c.bytesSent, 0)
  const kept = point === undefined ? {} : { point, pointUuid }
  return { vm, vmUuid, name, ...kept, full, bytesRead, bytesWritten, bytesSent }
}

/** The fresh disks, their data, the memory image and the replica VM (in `made` as they come). */
async function writeReplica(
  task: TaskContext,
  ctx: TargetContext,
  input: BuildInput,
  made: Made,
  name: string,
): Promise<DiskCopy[]> {
  const { signal } = task
  const { meta, plans, keys, run } = input
  const pools = { source: ctx.source, target: ctx.target, sr: ctx.sr }
  const createVm = (suspendVdi: Ref | undefined): Promise<Ref> => {
    const vmKeys = { ...keys, [REPLICA.memory]: String(suspendVdi !== undefined) }
    const spec = { meta, vdis: [...made.vdis], suspendVdi, name, keys: vmKeys, networks: ctx.networks }
    return createReplicaVm(ctx.target, { ...spec, tag: REPLICA_TAG[run.mode] }, signal)
  }
  for (const plan of plans) made.vdis.push(await freshReplicaDisk(pools, plan, diskKeys(keys, plan), signal))
  const image = run.memoryImage
  if (image === undefined) {
    made.creating = createVm(undefined).then((vm) => void (made.vm = vm))
    made.creating.catch(() => {}) // observed below, or by undo()
  }
  const copies = await copyDisks(task, ctx, pools, { plans, vdis: made.vdis, run })
  if (image === undefined) {
    await made.creating
    return copies
  }
  const copy = await task.child('memory', (t) => copyMemoryImage(t, pools, image, keys, run))
  made.suspendVdi = copy.vdi
  made.vm = await createVm(made.suspendVdi)
  return [...copies, copy]
}

function diskKeys(keys: Readonly<Record<string, string>>, plan: DiskPlan): Record<string, string> {
  return {
    ...keys,
    [XO.copyOf]: String(plan.snapshot.live.vdiRecord.uuid),
    [XO.contentKey]: String(plan.snapshot.record.uuid),
  }
}

/** Each disk's data into its fresh state, one transfer task each (under the source pool's limit). */
async function copyDisks(
  task: TaskContext,
  ctx: TargetContext,
  pools: { source: XapiClient; target: XapiClient },
  input: { plans: readonly DiskPlan[]; vdis: readonly Ref[]; run: TargetRun },
): Promise<DiskCopy[]> {
  const copies: DiskCopy[] = []
  for (const [i, plan] of input.plans.entries()) {
    const data = {
      disk: i,
      vdi: String(plan.snapshot.record.uuid),
      size: Number(plan.snapshot.record.virtual_size),
    }
    const vdi = input.vdis[i]!
    const fill = (t: TaskContext) => fillReplicaDisk(t, pools, plan, vdi, input.run)
    copies.push(await task.child('transfer', (t) => ctx.limits.transfers.run(() => fill(t), t.signal), data))
  }
  return copies
}

/** Not the run's signal: a cancelled attempt is undone too. */
async function undo(xapi: XapiClient, made: Made): Promise<void> {
  await made.creating?.catch(() => undefined) // a VM it made is known once it has settled
  const cleanup = AbortSignal.timeout(300_000)
  if (made.point !== undefined) await destroyReplica(xapi, made.point, cleanup).catch(() => false)
  if (made.vm !== undefined) await destroyReplica(xapi, made.vm, cleanup).catch(() => false)
  const loose = made.suspendVdi === undefined ? made.vdis : [...made.vdis, made.suspendVdi]
  await destroyVdis(xapi, loose, cleanup).catch(() => undefined)
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
 * The keys made complete: XO's `xo:backup:sr` added and the pending marker removed, the disks and
 * images first (the VM's are known; the restore point's are read), the restore point then the VM last
 * (a VM still pending is what a later sweep removes).
 */
async function complete(
  ctx: TargetContext,
  made: { vm: Ref; point: Ref | undefined; vdis: readonly Ref[] },
  signal: AbortSignal,
): Promise<void> {
  const { target } = ctx
  const keys = { [XO.sr]: ctx.scope.srUuid, [REPLICA.pending]: undefined }
  const { vm, point } = made
  const pointVdis = point === undefined ? [] : await disksOf(target, point, signal)
  await Promise.all([...made.vdis, ...pointVdis].map((vdi) => setKeys(target, 'VDI', vdi, keys, signal)))
  for (const owner of point === undefined ? [vm] : [point, vm])
    await setKeys(target, 'VM', owner, keys, signal)
}

/** A VM's disks and its memory image, if any. */
async function disksOf(xapi: XapiClient, vm: Ref, signal: AbortSignal): Promise<Ref[]> {
  const [disks, image] = await Promise.all([
    vmDisks(xapi, vm, signal),
    xapi.call<Ref>('VM.get_suspend_VDI', [vm], signal),
  ])
  return [...disks.map((d) => d.vdi), ...(image === 'OpaqueRef:NULL' ? [] : [image])]
}
