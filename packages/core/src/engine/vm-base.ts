// The base of an incremental backup, per target: the newest restore point of this VM, job and schedule,
// reused per disk only if the snapshot VDI it recorded is one XAPI still has (a snapshot of the same
// disk). The index checksum is checked by PointWriter.begin (BASE_MISMATCH).
import {
  listPoints,
  readManifest,
  type Manifest,
  type PointRef,
  type Repository,
} from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import type { XapiClient } from '../xapi/index.js'
import type { DiskBase } from './disk-transfer.js'
import { isPointMetadata, type PointMetadata } from './vm-metadata.js'
import type { SnapshotDisk } from './vm-snapshot.js'
import { findByUuid, record } from '../xapi/index.js'

/** How many of the newest points are read looking for this job's last one. */
const SCAN_LIMIT = 50

export interface TargetBase {
  readonly ref: PointRef
  readonly manifest: Manifest
  /** Per snapshot disk: the index of the base point's disk of the same VDI, or -1. */
  readonly baseDisks: number[]
  /** Per snapshot disk: the recorded base snapshot if XAPI still has it. */
  readonly disks: (DiskBase | undefined)[]
}

export async function findLastPoint(
  repo: Repository,
  vmUuid: string,
  jobId: string,
  scheduleId: string | undefined,
  signal?: AbortSignal,
): Promise<{ ref: PointRef; manifest: Manifest; metadata: PointMetadata } | undefined> {
  const points = (await listPoints(repo, vmUuid, signal)).reverse().slice(0, SCAN_LIMIT)
  for (const p of points) {
    const manifest = await readManifest(repo, p, signal)
    const metadata = manifest.vm.metadata
    if (manifest.jobId !== jobId || (manifest.scheduleId ?? undefined) !== scheduleId) continue
    if (isPointMetadata(metadata)) return { ref: { vm: p.vm, pointId: p.pointId }, manifest, metadata }
  }
  return undefined
}

export async function findBase(
  task: TaskContext,
  xapi: XapiClient,
  repo: Repository,
  target: string,
  vmUuid: string,
  ids: { jobId: string; scheduleId?: string },
  disks: readonly SnapshotDisk[],
): Promise<TargetBase | undefined> {
  const { signal } = task
  const last = await findLastPoint(repo, vmUuid, ids.jobId, ids.scheduleId, signal)
  if (last === undefined) {
    task.info(`no earlier restore point of this job in '${target}': full backup`)
    return undefined
  }
  const baseDisks: number[] = []
  const bases: (DiskBase | undefined)[] = []
  for (const disk of disks) {
    const j = last.metadata.disks.findIndex((d) => d.source === disk.live.vdiRecord.uuid)
    baseDisks.push(j)
    const recorded = last.metadata.disks[j]
    if (recorded === undefined) {
      task.warn(`VDI ${String(disk.live.vdiRecord.uuid)} is not in point ${last.ref.pointId}: full read`)
      bases.push(undefined)
      continue
    }
    const ref = await findByUuid(xapi, 'VDI', recorded.snapshot, signal)
    const r = ref === undefined ? undefined : await record(xapi, 'VDI', ref, signal)
    if (ref === undefined || r?.snapshot_of !== disk.live.vdi) {
      task.warn(
        `snapshot VDI ${recorded.snapshot} recorded by point ${last.ref.pointId} in '${target}' is gone: full read of VDI ${recorded.source}`,
      )
      bases.push(undefined)
      continue
    }
    bases.push({ vdi: ref, hasData: r.type !== 'cbt_metadata', cbt: r.cbt_enabled === true })
  }
  return { ref: last.ref, manifest: last.manifest, baseDisks, disks: bases }
}

/** Per disk, the base every target agrees on (a source is read once for all targets), else undefined. */
export function commonBases(
  task: TaskContext,
  bases: readonly (TargetBase | undefined)[],
  disks: readonly SnapshotDisk[],
): (DiskBase | undefined)[] {
  return disks.map((disk, i) => {
    const each = bases.map((b) => b?.disks[i])
    const first = each[0]
    if (first !== undefined && each.every((b) => b?.vdi === first.vdi)) return first
    if (each.some((b) => b !== undefined)) {
      task.warn(`targets disagree on the base of VDI ${String(disk.live.vdiRecord.uuid)}: full read`)
    }
    return undefined
  })
}
