// Replicates one VM to one or more SRs (each on any connected pool): the source side as for a backup
// (migrations blocked, a snapshot or a checkpoint under the pool's limit, resumed from an interrupted
// attempt's), then a replica per target (replicate-target.ts), then the snapshot marked exported (the
// next run's base) and the source cleaned up. Without memory the replica is crash-consistent: the run
// says so.
import type { RetentionPolicy } from '../../retention/index.js'
import type { TaskContext } from '../../shared/index.js'
import { record, refByUuid, type Ref, type XapiClient } from '../../xapi/index.js'
import type { PoolLimits } from '../limits.js'
import {
  blockMigration,
  cleanup,
  markExported,
  snapshotOrResume,
  snapshotRequest,
  type SourceSettings,
} from '../source-snapshot.js'
import { collectWarnings } from '../vm-backup.js'
import { collectMetadata } from '../vm-metadata.js'
import type { TakenSnapshot } from '../vm-snapshot.js'
import type { CopySettings } from './replica-disks.js'
import { parseReplicaTime } from './replica-keys.js'
import { replicateToTarget, type ReplicaMade } from './replicate-target.js'

export interface ReplicaTargetSession {
  /** The pool's id in the job (and its name in messages). */
  readonly poolId: string
  readonly poolName?: string
  readonly xapi: XapiClient
  readonly srUuid: string
  readonly networks?: Readonly<Record<string, string>>
}

export interface VmReplicationSettings extends Omit<SourceSettings, 'changedBlocks'>, CopySettings {
  readonly jobName: string
  readonly mode: 'delta' | 'full'
  /** The schedule's policy: restore points (delta) or replica VMs (full) kept per target. */
  readonly retention?: { readonly policy: RetentionPolicy; readonly timeZone: string }
}

export interface ReplicaWritten {
  readonly pool: string
  readonly srUuid: string
  readonly vmUuid: string
  readonly name: string
  /** The restore point made (delta). */
  readonly pointUuid?: string
  readonly full: boolean
}

export interface VmReplicationResult {
  readonly vmUuid: string
  readonly replicas: ReplicaWritten[]
  readonly full: boolean
  readonly bytesRead: number
  /** Bytes of the changed data written into the replicas' disks. */
  readonly bytesWritten: number
  /** Bytes of the VHD uploads that carried them (whole 2 MiB blocks and their metadata). */
  readonly bytesSent: number
  /** The replicas hold the memory (checkpoint): they resume; else they are crash-consistent. */
  readonly memory: boolean
  readonly warnings: string[]
}

export async function replicateVm(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  vmUuid: string,
  targets: readonly ReplicaTargetSession[],
  settings: VmReplicationSettings,
): Promise<VmReplicationResult> {
  const warnings: string[] = []
  const vmTask = collectWarnings(task, warnings)
  const { signal } = task
  const vm = await refByUuid(xapi, 'VM', vmUuid, signal)
  const vmRecord = await record(xapi, 'VM', vm, signal)
  const unblock = await blockMigration(xapi, vm, vmRecord, signal)
  try {
    const request = snapshotRequest(vm, vmRecord, settings)
    const snap = await vmTask.child('snapshot', (t) => snapshotOrResume(t, xapi, limits, request))
    let exported = false
    try {
      const made = await replicateAll(vmTask, { xapi, limits, vm, snap }, targets, settings)
      await markExported(xapi, snap, signal)
      exported = true
      return { vmUuid, ...made, warnings }
    } finally {
      await cleanup(vmTask, xapi, { vm, snap, exported, interrupted: signal.aborted }, settings)
    }
  } finally {
    await unblock()
  }
}

async function replicateAll(
  task: TaskContext,
  source: { xapi: XapiClient; limits: PoolLimits; vm: Ref; snap: TakenSnapshot },
  targets: readonly ReplicaTargetSession[],
  settings: VmReplicationSettings,
): Promise<Omit<VmReplicationResult, 'vmUuid' | 'warnings'>> {
  const { xapi, snap } = source
  const vmRecord = await record(xapi, 'VM', source.vm, task.signal)
  // Independent reads, sent together.
  const [meta, snapshotTime, memoryImage] = await Promise.all([
    collectMetadata(task, xapi, source.vm, vmRecord, snap, {
      runId: settings.runId,
      withMemory: settings.withMemory === true,
    }),
    timeOf(xapi, snap, task.signal),
    memoryImageOf(xapi, snap, task.signal),
  ])
  const run = { ...settings, snapshotTime, memoryImage }
  const replicas: ReplicaWritten[] = []
  const made: ReplicaMade[] = []
  for (const t of targets) {
    const scope = {
      jobId: settings.jobId,
      scheduleId: settings.scheduleId ?? '',
      vmUuid: String(vmRecord.uuid),
      srUuid: t.srUuid,
    }
    const one = await task.child(
      'replica',
      async (child) => {
        const sr = await refByUuid(t.xapi, 'SR', t.srUuid, child.signal)
        const ctx = { source: xapi, target: t.xapi, sr, limits: source.limits, scope, networks: t.networks }
        const result = await replicateToTarget(child, ctx, snap, meta, run)
        child.set({ replica: result.vmUuid, name: result.name, full: result.full })
        child.set({
          bytesRead: result.bytesRead,
          bytesWritten: result.bytesWritten,
          bytesSent: result.bytesSent,
        })
        return result
      },
      { pool: t.poolName ?? t.poolId, sr: t.srUuid },
    )
    made.push(one)
    const { pointUuid } = one
    replicas.push({
      pool: t.poolId,
      srUuid: t.srUuid,
      vmUuid: one.vmUuid,
      name: one.name,
      full: one.full,
      ...(pointUuid === undefined ? {} : { pointUuid }),
    })
  }
  const memory = memoryImage !== undefined
  if (!memory)
    task.info('crash-consistent: the replicas hold the disks, not the memory; they boot as after a power cut')
  task.set({ consistency: memory ? 'memory' : 'crash-consistent' })
  return {
    replicas,
    full: made.every((m) => m.full),
    bytesRead: made.reduce((n, m) => n + m.bytesRead, 0),
    bytesWritten: made.reduce((n, m) => n + m.bytesWritten, 0),
    bytesSent: made.reduce((n, m) => n + m.bytesSent, 0),
    memory,
  }
}

const NULL = 'OpaqueRef:NULL'

/** The memory image of a checkpoint (none for a snapshot, or disks snapshotted one by one). */
async function memoryImageOf(
  xapi: XapiClient,
  snap: TakenSnapshot,
  signal: AbortSignal,
): Promise<Ref | undefined> {
  if (snap.vm === undefined) return undefined
  const image = await xapi.call<Ref>('VM.get_suspend_VDI', [snap.vm], signal)
  return image === NULL ? undefined : image
}

/** When the source was snapshotted (the snapshot VM's time; now for disks snapshotted one by one). */
async function timeOf(xapi: XapiClient, snap: TakenSnapshot, signal: AbortSignal): Promise<Date> {
  if (snap.vm === undefined) return new Date()
  const time = parseReplicaTime(String(await xapi.call('VM.get_snapshot_time', [snap.vm], signal)))
  return time.getTime() === 0 ? new Date() : time
}
