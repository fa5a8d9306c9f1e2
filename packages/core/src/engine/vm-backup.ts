// Backs up one VM into one or more repositories: snapshot (under the pool's snapshot limit), per disk the
// changed chunks read once and stored in every target (under the transfer limit), restore points
// committed, then the snapshot kept or removed by retention. Everything made on the pool is undone here,
// on success and on failure.
import { ChunkSink } from '../disks/index.js'
import {
  PointWriter,
  RepositoryError,
  isResumable,
  type CommittedPoint,
  type DiskWriter,
  type Repository,
} from '../repository/index.js'
import { errorMessage, type TaskContext } from '../shared/index.js'
import type { Ref, XapiClient, XapiRecord } from '../xapi/index.js'
import { transferDisk, type DiskBase } from './disk-transfer.js'
import type { PoolLimits } from './limits.js'
import type { ResumeHooks } from './resume-journal.js'
import {
  blockMigration,
  cleanup,
  markExported,
  snapshotOrResume,
  snapshotRequest,
} from './source-snapshot.js'
import { commonBases, findBase, type TargetBase } from './vm-base.js'
import { collectMetadata, type PointMetadata } from './vm-metadata.js'
import { backupMemory, findMemory, memoryMetadata } from './vm-memory.js'
import type { TakenSnapshot } from './vm-snapshot.js'
import { record, refByUuid } from '../xapi/index.js'

export interface BackupTarget {
  readonly name: string
  readonly repository: Repository
}

export interface VmBackupSettings {
  readonly runId: string
  readonly jobId: string
  readonly scheduleId?: string
  /** delta: reuse a verified base when possible. */
  readonly mode: 'delta' | 'full'
  /** This run is full whatever the base. */
  readonly forceFull?: boolean
  /** Shut the VM down for the snapshot, restart it after. */
  readonly offline?: boolean
  /** VM.checkpoint instead of VM.snapshot. */
  readonly withMemory?: boolean
  /** Default true. */
  readonly preferNbd?: boolean
  /** NBD connections per disk. */
  readonly nbdConnections?: number
  /** Over TLS, NBD reads go straight into chunk buffers where Node allows it (default true; A/B runs). */
  readonly nbdTlsDirectReads?: boolean
  readonly maxBytesPerSecond?: number
  /** Backup snapshots kept on the pool for this job/schedule (default 1). */
  readonly snapshotRetention?: number
  /** Force a changed-block path (tests, diagnostics). */
  readonly changedBlocks?: 'auto' | 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'
  /** Journals stored chunks and adopts those of an interrupted attempt (the run supplies it). */
  readonly resume?: ResumeHooks
}

export interface VmBackupResult {
  readonly vmUuid: string
  readonly points: { target: string; pointId: string }[]
  readonly full: boolean
  readonly bytesRead: number
  readonly bytesStored: number
  readonly warnings: string[]
}

export async function backupVm(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  vmUuid: string,
  targets: readonly BackupTarget[],
  settings: VmBackupSettings,
): Promise<VmBackupResult> {
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
    let failure: unknown
    try {
      const done = await transferAndCommit(vmTask, xapi, limits, { vm, vmRecord, snap }, targets, settings)
      await markExported(xapi, snap, signal)
      exported = true
      return { vmUuid, ...done, warnings }
    } catch (error) {
      failure = error
      throw error
    } finally {
      // Cancelled, or failed in a way that loses nothing stored (a lapsed repository session): the next
      // attempt resumes from the snapshot, so it is kept.
      const interrupted = signal.aborted || isResumable(failure)
      await cleanup(vmTask, xapi, { vm, snap, exported, interrupted }, settings)
    }
  } finally {
    await unblock()
  }
}

interface Source {
  readonly vm: Ref
  readonly vmRecord: XapiRecord
  readonly snap: TakenSnapshot
}

interface OpenedTarget {
  readonly target: BackupTarget
  readonly point: PointWriter
  readonly base: TargetBase | undefined
  committed?: CommittedPoint
}

async function transferAndCommit(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  source: Source,
  targets: readonly BackupTarget[],
  settings: VmBackupSettings,
): Promise<Omit<VmBackupResult, 'vmUuid' | 'warnings'>> {
  const { snap } = source
  const memory = settings.withMemory === true ? await findMemory(task, xapi, snap) : undefined
  const metadata = await collectMetadata(task, xapi, source.vm, source.vmRecord, snap, {
    runId: settings.runId,
    withMemory: memory !== undefined,
    ...(memory === undefined ? {} : { memory: memoryMetadata(memory, snap.disks.length) }),
  })
  const delta = settings.mode === 'delta' && settings.forceFull !== true
  const opened: OpenedTarget[] = []
  try {
    for (const target of targets)
      opened.push(await openTarget(task, xapi, target, source, metadata, settings, delta))
    const bases = delta
      ? commonBases(
          task,
          opened.map((o) => o.base),
          snap.disks,
        )
      : snap.disks.map(() => undefined)
    const writers = openDisks(opened, snap)
    const points = opened.map((o) => o.point)
    const memoryRead =
      memory &&
      backupMemory(
        task,
        xapi,
        limits,
        { memory, points, disk: snap.disks.length },
        settings.maxBytesPerSecond,
      )
    const read = await Promise.all([
      memoryRead ?? 0,
      ...snap.disks.map((disk, i) =>
        task.child(
          'transfer',
          (t) =>
            limits.transfers.run(
              () =>
                transferOne(t, xapi, { ...disk, base: bases[i], writers: writers[i]! }, opened, i, settings),
              t.signal,
            ),
          { disk: i, vdi: String(disk.record.uuid), size: Number(disk.record.virtual_size) },
        ),
      ),
    ])
    const full = bases.every((b) => b === undefined)
    for (const o of opened) o.committed = await o.point.commit({ full })
    // Immutable repositories: shared chunks retained as long as the new points before the stores close.
    for (const o of opened) await o.committed!.retention
    return {
      points: opened.map((o) => ({ target: o.target.name, pointId: o.committed!.pointId })),
      full,
      bytesRead: read.reduce((n, bytes) => n + bytes, 0),
      bytesStored: opened.reduce((n, o) => n + o.committed!.stats.reduce((m, s) => m + s.newBytes, 0), 0),
    }
  } catch (error) {
    await Promise.all(
      opened.filter((o) => o.committed === undefined).map((o) => o.point.abort().catch(() => {})),
    )
    throw error
  }
}

async function openTarget(
  task: TaskContext,
  xapi: XapiClient,
  target: BackupTarget,
  source: Source,
  metadata: PointMetadata,
  settings: VmBackupSettings,
  delta: boolean,
): Promise<OpenedTarget> {
  const repo: Repository = target.repository
  const vmUuid = String(source.vmRecord.uuid)
  const ids = { jobId: settings.jobId, scheduleId: settings.scheduleId }
  const base = delta
    ? await findBase(task, xapi, repo, target.name, vmUuid, ids, source.snap.disks)
    : undefined
  const options = {
    vm: vmUuid,
    metadata,
    jobId: settings.jobId,
    scheduleId: settings.scheduleId,
    onWarning: (message: string) => task.warn(message, { target: target.name }),
    signal: task.signal,
  }
  try {
    return { target, point: await PointWriter.begin(repo, { ...options, base: base?.ref }), base }
  } catch (error) {
    if (base === undefined || !(error instanceof RepositoryError && error.code === 'BASE_MISMATCH'))
      throw error
    task.warn(
      `base point ${base.ref.pointId} in '${target.name}' fails its checksum: full backup (${errorMessage(error)})`,
    )
    return { target, point: await PointWriter.begin(repo, options), base: undefined }
  }
}

/** Per disk, one writer in every target (read once, stored in all). */
function openDisks(opened: readonly OpenedTarget[], snap: TakenSnapshot): DiskWriter[][] {
  return snap.disks.map((disk, i) => {
    const name = String(disk.live.vdiRecord.name_label ?? `disk ${i}`)
    const size = Number(disk.record.virtual_size)
    // -1: no base disk (undefined would select the base's disk at the same position).
    return opened.map((o) => o.point.openDisk(name, size, o.base?.baseDisks[i] ?? -1))
  })
}

/** Transfers one disk into its writers; returns the bytes read. */
async function transferOne(
  task: TaskContext,
  xapi: XapiClient,
  disk: { vdi: Ref; record: XapiRecord; base: DiskBase | undefined; writers: DiskWriter[] },
  opened: readonly OpenedTarget[],
  i: number,
  settings: VmBackupSettings,
): Promise<number> {
  const { vdi, record: vdiRecord, writers } = disk
  const targets = opened.map((o) => o.target.name)
  const resumeDisk = { disk: i, vdi, vdiUuid: String(vdiRecord.uuid), writers, targets }
  const skip = await settings.resume?.prepareDisk(task, xapi, resumeDisk)
  const sink = new ChunkSink(writers, {
    maxBytesPerSecond: settings.maxBytesPerSecond,
    onProgress: (done, total) => task.progress({ done, total }),
    onStored: (index) => settings.resume?.stored(i, index),
  })
  const zeroFill = opened.some((o) => (o.base?.baseDisks[i] ?? -1) >= 0)
  const transfer = { vdi, record: vdiRecord, base: disk.base, sink, zeroFill, skip }
  const path = await transferDisk(task, xapi, transfer, {
    changedBlocks: settings.changedBlocks ?? 'auto',
    preferNbd: settings.preferNbd !== false,
    nbdConnections: settings.nbdConnections,
    nbdTlsDirectReads: settings.nbdTlsDirectReads,
  })
  task.set({ path, bytesRead: sink.bytesRead })
  return sink.bytesRead
}

/** A view of the task whose warnings are also collected for the result. */
export function collectWarnings(task: TaskContext, out: string[]): TaskContext {
  const wrap = (t: TaskContext): TaskContext => ({
    signal: t.signal,
    info: (m, d) => t.info(m, d),
    warn: (m, d) => (out.push(m), t.warn(m, d)),
    progress: (p) => t.progress(p),
    set: (d) => t.set(d),
    child: (name, fn, data) => t.child(name, (c) => fn(wrap(c)), data),
  })
  return wrap(task)
}
