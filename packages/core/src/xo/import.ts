// Importing an XO remote into a repository: each usable XO restore point becomes one complete Strata
// restore point, written by the repository's point writer through a ChunkSink as a backup is (so its
// chunks dedup against what the repository holds), dated with the XO point's date and tagged with its
// id. A point is visible only once committed (the manifest is written last), so a stopped import leaves
// nothing half-written behind; the next run finds the points already in by their tag and goes on with
// the others. A point whose chain or metadata is bad is skipped with the reason; the rest is imported.
import { ChunkSink, copyDisk } from '../disks/index.js'
import {
  formatPointRef,
  listPoints,
  PointWriter,
  readManifest,
  type PointOptions,
  type PointRef,
  type PointSummary,
  type Repository,
} from '../repository/index.js'
import { errorCode, errorMessage, StrataError, type TaskContext } from '../shared/index.js'
import { ChainDisk, type XoDisk } from './disk.js'
import { XoDiskSource } from './disk-source.js'
import { XoError } from './errors.js'
import { resolveFrom } from './format/paths.js'
import { importedMetadata, importTag, pointDisks, type XoPointDisk } from './import-metadata.js'
import { openPoint, type XoPointSummary, type XoRestorePoint } from './point.js'
import type { XoRemote } from './remote.js'
import { listRemote } from './scan.js'
import { readAuthenticatedOva } from './xva.js'

export interface XoImportOptions {
  /** VMs to import, by uuid or name (default: all). */
  readonly vms?: readonly string[]
  /** Only points taken at or after this time (ms since the epoch). */
  readonly since?: number
}

export interface XoImportedPoint {
  readonly backup: string
  readonly vm: string
  readonly timestamp: number
  readonly mode: 'delta' | 'full'
  readonly jobId: string
  /** The new restore point: '<vm>/<point id>'. */
  readonly point: string
  /** The earlier point whose disks it started from (only the VHDs since were read), if any. */
  readonly base: string | undefined
  /** Chunks read from the remote (over a base, only those the newer VHDs touch). */
  readonly chunksRead: number
  readonly disks: number
  /** Bytes of the disks, and bytes the repository did not already hold (stored, compressed). */
  readonly size: number
  readonly newBytes: number
}

export interface XoSkippedPoint {
  readonly backup: string
  readonly vm: string
  readonly timestamp: number
  readonly reason: string
  /** XO_ALREADY_IMPORTED, or the code of the error that makes the point unusable. */
  readonly code: string
  /** The repository's point that already holds it. */
  readonly point?: string
}

export interface XoImportReport {
  readonly remote: string
  readonly repository: string
  readonly imported: XoImportedPoint[]
  readonly skipped: XoSkippedPoint[]
}

export async function importRemote(
  task: TaskContext,
  remote: XoRemote,
  repo: Repository,
  options: XoImportOptions = {},
): Promise<XoImportReport> {
  const listing = await listRemote(remote, task.signal)
  const selected = selectPoints(listing.points, options)
  const report: XoImportReport = { remote: remote.name, repository: repo.name, imported: [], skipped: [] }
  const run: RunState = { remote, repo, listed: new Map(), inRepo: [] }
  for (const [n, summary] of selected.entries()) {
    task.progress({ done: n, total: selected.length })
    const outcome = await importOne(task, run, summary)
    if ('reason' in outcome) {
      report.skipped.push(outcome)
      task.info(`skipped ${summary.id}: ${outcome.reason}`, { backup: summary.id, code: outcome.code })
    } else report.imported.push(outcome)
  }
  task.progress({ done: selected.length, total: selected.length })
  return report
}

interface RunState {
  readonly remote: XoRemote
  readonly repo: Repository
  /** The repository's points of each VM, listed once. */
  readonly listed: Map<string, PointSummary[]>
  /** XO points in the repository, found or imported by this run, in the order met (oldest first). */
  readonly inRepo: { readonly summary: XoPointSummary; readonly ref: PointRef }[]
}

async function importOne(
  task: TaskContext,
  run: RunState,
  summary: XoPointSummary,
): Promise<XoImportedPoint | XoSkippedPoint> {
  const { vm, timestamp } = summary
  const skipped = (reason: string, code: string, point?: string): XoSkippedPoint => ({
    backup: summary.id,
    vm,
    timestamp,
    reason,
    code,
    point,
  })
  if (!summary.usable) return skipped(summary.reason ?? 'unusable', summary.code ?? 'XO_POINT_UNUSABLE')
  const already = await findImported(run.repo, summary, run.listed, task.signal)
  if (already !== undefined) {
    run.inRepo.push({ summary, ref: already })
    return skipped(`already imported as ${already.ref}`, 'XO_ALREADY_IMPORTED', already.ref)
  }
  // The latest delta point of the VM in the repository: where its chain goes on, only newer VHDs are read.
  const base = run.inRepo.findLast((p) => p.summary.vm === vm && p.summary.mode === 'delta')
  try {
    const done = await task.child('import', (t) => importPoint(t, run, summary, base), {
      backup: summary.id,
    })
    run.inRepo.push({ summary, ref: { vm, pointId: done.point.slice(done.point.lastIndexOf('/') + 1) } })
    return done
  } catch (error) {
    if (!isPointError(error)) throw error
    return skipped(errorMessage(error), errorCode(error) ?? 'XO_POINT_UNUSABLE')
  }
}

/** The points asked for, oldest first; a VM asked for that the remote does not hold is an error. */
export function selectPoints(points: readonly XoPointSummary[], options: XoImportOptions): XoPointSummary[] {
  const vms = options.vms ?? []
  for (const vm of vms) {
    if (!points.some((p) => p.vm === vm || p.vmName === vm))
      throw new XoError('XO_BACKUP_NOT_FOUND', `the remote holds no restore point of a VM '${vm}'`)
  }
  return points
    .filter((p) => vms.length === 0 || vms.includes(p.vm) || vms.includes(p.vmName))
    .filter((p) => options.since === undefined || p.timestamp >= options.since)
    .sort((a, b) => a.timestamp - b.timestamp || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/**
 * The repository's point that holds this XO point: one of the VM's points taken at the XO point's
 * time whose manifest carries its tag. Only those few manifests are read.
 */
async function findImported(
  repo: Repository,
  summary: XoPointSummary,
  cache: Map<string, PointSummary[]>,
  signal: AbortSignal,
): Promise<PointSummary | undefined> {
  let points = cache.get(summary.vm)
  if (points === undefined) {
    points = await listPoints(repo, summary.vm, signal)
    cache.set(summary.vm, points)
  }
  const tag = importTag(summary.id)
  for (const p of points.filter((q) => q.time.getTime() === summary.timestamp)) {
    if ((await readManifest(repo, p, signal)).tags.includes(tag)) return p
  }
  return undefined
}

async function importPoint(
  task: TaskContext,
  { remote, repo }: RunState,
  summary: XoPointSummary,
  base: RunState['inRepo'][number] | undefined,
): Promise<XoImportedPoint> {
  const { signal } = task
  const point = await openPoint(remote, summary.id, signal)
  const meta = point.metadata
  const ova =
    meta.mode === 'full'
      ? await readAuthenticatedOva(remote, resolveFrom(meta.file, meta.xva, `XVA of ${meta.file}`), signal)
      : undefined
  const options = {
    vm: summary.vm,
    metadata: importedMetadata(meta, { backup: summary.id, remote: remote.name }, ova),
    tags: [importTag(summary.id)],
    jobId: meta.jobId,
    scheduleId: meta.scheduleId,
    time: new Date(meta.timestamp),
    signal,
  }
  const useBase = meta.mode === 'delta' ? base : undefined
  const writer = await beginPoint(repo, options, useBase?.ref)
  try {
    const disks = pointDisks(meta, ova)
    const stored = await storeDisks(task, point, writer, disks, useBase?.summary)
    const done = await writer.commit()
    task.set({ point: done.ref })
    const { id: backup, vm } = summary
    const { timestamp, mode, jobId } = meta
    return {
      ...{ backup, vm, timestamp, mode, jobId, point: done.ref, disks: disks.length },
      base: stored.based ? formatPointRef(useBase!.ref) : undefined,
      size: stored.size,
      chunksRead: stored.chunksRead,
      newBytes: done.stats.reduce((n, s) => n + s.newBytes, 0),
    }
  } catch (error) {
    await writer.abort().catch(() => undefined)
    throw error
  }
}

/** Each disk through a ChunkSink into the writer, over the base's disk where its chain goes on. */
async function storeDisks(
  task: TaskContext,
  point: XoRestorePoint,
  writer: PointWriter,
  disks: readonly XoPointDisk[],
  base: XoPointSummary | undefined,
): Promise<{ size: number; chunksRead: number; based: boolean }> {
  const { signal } = task
  const out = { size: 0, chunksRead: 0, based: false }
  for (const [i, disk] of disks.entries()) {
    const opened = await point.openDisk(i, signal)
    const from = writer.base === undefined || base === undefined ? undefined : baseDisk(opened, base)
    const source = new XoDiskSource(opened, { changed: from?.changed })
    out.size += source.size
    out.based ||= from !== undefined
    const name = String(disk.vdi.name_label ?? `disk ${i}`)
    const sink = new ChunkSink([writer.openDisk(name, source.size, from?.disk ?? -1)], {
      onProgress: (done, total) => task.progress({ done, total }),
    })
    out.chunksRead += (await copyDisk(source, sink, { signal, warn: (m, d) => task.warn(m, d) })).chunks
  }
  return out
}

/** Over the base point when it can be one: its indexes must still check, else the point is read whole. */
async function beginPoint(
  repo: Repository,
  options: PointOptions,
  base: PointRef | undefined,
): Promise<PointWriter> {
  if (base === undefined) return PointWriter.begin(repo, options)
  try {
    return await PointWriter.begin(repo, { ...options, base })
  } catch (error) {
    const code = errorCode(error)
    if (code !== 'BASE_MISMATCH' && code !== 'POINT_NOT_FOUND') throw error
    return PointWriter.begin(repo, options)
  }
}

/** The base's disk this disk's chain goes on from (same size), and the blocks written since. */
function baseDisk(disk: XoDisk, base: XoPointSummary): { disk: number; changed: number[] } | undefined {
  if (!(disk instanceof ChainDisk)) return undefined
  for (const candidate of base.disks) {
    if (candidate.size !== disk.size) continue
    const changed = disk.changedSince(candidate.path)
    if (changed !== undefined) return { disk: candidate.index, changed }
  }
  return undefined
}

/** The point's own data is bad (its chain, a block, its XVA): skip it. Anything else stops the import. */
function isPointError(error: unknown): boolean {
  if (!(error instanceof StrataError) || error.retryable) return false
  return /^(XO_|VHD_|DISK_SOURCE_INVALID$)/.test(error.code) && error.code !== 'XO_READ_ONLY'
}
