// The source side of a VM's run, shared by backups and replications: migrations blocked for the run (a
// migrated VDI loses its CBT chain), the snapshot taken under the pool's limit (or the one an interrupted
// attempt left, resumed), marked exported once every target has it, and cleanup: a failed run's snapshot
// destroyed, then the job/schedule's snapshot retention. Everything is undone with its own signal, so a
// cancelled run cleans up too.
import type { TaskContext } from '../shared/index.js'
import type { Ref, XapiClient, XapiRecord } from '../xapi/index.js'
import { undoCall } from '../xapi/index.js'
import type { PoolLimits } from './limits.js'
import { applySnapshotRetention } from './snapshot-retention.js'
import {
  TAG,
  destroySnapshot,
  findPendingSnapshot,
  takeSnapshot,
  type SnapshotRequest,
  type TakenSnapshot,
} from './vm-snapshot.js'

/** What the source side needs of a run's settings. */
export interface SourceSettings {
  readonly runId: string
  readonly jobId: string
  readonly scheduleId?: string
  readonly withMemory?: boolean
  readonly offline?: boolean
  readonly changedBlocks?: 'auto' | 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'
  /** Snapshots kept on the pool for this job/schedule (default 1): the next run's base. */
  readonly snapshotRetention?: number
}

/** The snapshot of an interrupted attempt if XAPI still has it, else a new one (under the pool's limit). */
export async function snapshotOrResume(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  request: SnapshotRequest,
): Promise<TakenSnapshot> {
  const pending = await findPendingSnapshot(xapi, request.vm, request.tags, task.signal)
  if (pending === undefined) return limits.snapshots.run(() => takeSnapshot(task, xapi, request), task.signal)
  task.info('resuming from the snapshot of an interrupted attempt: chunks it stored are not uploaded again')
  task.set({ resumed: true })
  return pending
}

export function snapshotRequest(vm: Ref, vmRecord: XapiRecord, settings: SourceSettings) {
  const tags: Record<string, string> = { [TAG.job]: settings.jobId, [TAG.run]: settings.runId }
  tags[TAG.vm] = String(vmRecord.uuid)
  if (settings.scheduleId !== undefined) tags[TAG.schedule] = settings.scheduleId
  const path = settings.changedBlocks ?? 'auto'
  return {
    vm,
    vmRecord,
    tags,
    withMemory: settings.withMemory === true,
    offline: settings.offline === true,
    enableCbt: path === 'auto' || path === 'cbt',
  }
}

export async function markExported(
  xapi: XapiClient,
  snap: TakenSnapshot,
  signal: AbortSignal,
): Promise<void> {
  if (snap.vm !== undefined)
    await xapi.call('VM.add_to_other_config', [snap.vm, TAG.exported, 'true'], signal)
  for (const d of snap.disks)
    await xapi.call('VDI.add_to_other_config', [d.vdi, TAG.exported, 'true'], signal)
}

/** Blocks migrations while the backup runs (a migrated VDI loses its CBT chain); returns the undo. */
export async function blockMigration(xapi: XapiClient, vm: Ref, vmRecord: XapiRecord, signal: AbortSignal) {
  const already = (vmRecord.blocked_operations ?? {}) as Record<string, string>
  const ops = ['pool_migrate', 'migrate_send'].filter((op) => already[op] === undefined)
  const added: string[] = []
  try {
    for (const op of ops) {
      await xapi.call('VM.add_to_blocked_operations', [vm, op, 'Strata backup in progress'], signal)
      added.push(op)
    }
  } catch (error) {
    await unblockAll(xapi, vm, added)
    throw error
  }
  return () => unblockAll(xapi, vm, added)
}

async function unblockAll(xapi: XapiClient, vm: Ref, ops: readonly string[]): Promise<void> {
  // Not the run's signal: a cancelled run must still unblock the VM.
  const signal = AbortSignal.timeout(120_000)
  for (const op of ops)
    await undoCall(() => xapi.call('VM.remove_from_blocked_operations', [vm, op], signal), signal)
}

/** Removes a failed run's snapshot, or applies snapshot retention after a successful one. */
export async function cleanup(
  task: TaskContext,
  xapi: XapiClient,
  run: { vm: Ref; snap: TakenSnapshot; exported: boolean; interrupted: boolean },
  settings: SourceSettings,
): Promise<void> {
  const signal = AbortSignal.timeout(300_000) // not the run's: cleanup follows a cancelled run too
  let ran = false
  const work = async (t: TaskContext): Promise<void> => {
    ran = true
    // An interrupted run keeps its snapshot VM for the next attempt to resume from; a failed one drops it.
    const resumable = !run.exported && run.interrupted && run.snap.vm !== undefined
    if (resumable) t.info('the snapshot is kept: the next attempt resumes from it')
    else if (!run.exported) await destroySnapshot(xapi, run.snap, signal)
    const scope = {
      vm: run.vm,
      disks: run.snap.disks.map((d) => d.live),
      jobId: settings.jobId,
      scheduleId: settings.scheduleId,
      keep: settings.snapshotRetention ?? 1,
      currentRun: settings.runId,
      spareCurrent: resumable,
    }
    await applySnapshotRetention(t, xapi, scope, signal)
  }
  try {
    await task.child('cleanup', work)
  } catch (error) {
    if (ran) throw error
    await work(task) // the task tree refused a child (the run was cancelled): clean up all the same
  }
}
