// Importing an XO remote into a repository: each usable XO restore point becomes one complete Strata
// restore point, written by the repository's point writer through a ChunkSink as a backup is (so its
// chunks dedup against what the repository holds), dated with the XO point's date and tagged with its
// id. A point is visible only once committed (the manifest is written last), so a stopped import leaves
// nothing half-written behind; the next run finds the points already in by their tag and goes on with
// the others. A point whose chain or metadata is bad is skipped with the reason; the rest is imported.
import { ChunkSink, copyDisk } from '../disks/index.js'
import {
  listPoints,
  PointWriter,
  readManifest,
  type PointSummary,
  type Repository,
} from '../repository/index.js'
import { errorCode, errorMessage, StrataError, type TaskContext } from '../shared/index.js'
import { XoDiskSource } from './disk-source.js'
import { XoError } from './errors.js'
import { resolveFrom } from './format/paths.js'
import { importedMetadata, importTag, pointDisks } from './import-metadata.js'
import { openPoint, type XoPointSummary } from './point.js'
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
  const { signal } = task
  const listing = await listRemote(remote, signal)
  const selected = selectPoints(listing.points, options)
  const report: XoImportReport = { remote: remote.name, repository: repo.name, imported: [], skipped: [] }
  const existing = new Map<string, PointSummary[]>()
  for (const [n, summary] of selected.entries()) {
    task.progress({ done: n, total: selected.length })
    const skip = (reason: string, code: string, point?: string): void => {
      report.skipped.push({
        backup: summary.id,
        vm: summary.vm,
        timestamp: summary.timestamp,
        reason,
        code,
        point,
      })
      task.info(`skipped ${summary.id}: ${reason}`, { backup: summary.id, code })
    }
    if (!summary.usable) {
      skip(summary.reason ?? 'unusable', summary.code ?? 'XO_POINT_UNUSABLE')
      continue
    }
    const already = await findImported(repo, summary, existing, signal)
    if (already !== undefined) {
      skip(`already imported as ${already}`, 'XO_ALREADY_IMPORTED', already)
      continue
    }
    try {
      const done = await task.child('import', (t) => importPoint(t, remote, repo, summary), {
        backup: summary.id,
      })
      report.imported.push(done)
    } catch (error) {
      if (!isPointError(error)) throw error
      skip(errorMessage(error), errorCode(error) ?? 'XO_POINT_UNUSABLE')
    }
  }
  task.progress({ done: selected.length, total: selected.length })
  return report
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
): Promise<string | undefined> {
  let points = cache.get(summary.vm)
  if (points === undefined) {
    points = await listPoints(repo, summary.vm, signal)
    cache.set(summary.vm, points)
  }
  const tag = importTag(summary.id)
  for (const p of points.filter((q) => q.time.getTime() === summary.timestamp)) {
    if ((await readManifest(repo, p, signal)).tags.includes(tag)) return p.ref
  }
  return undefined
}

async function importPoint(
  task: TaskContext,
  remote: XoRemote,
  repo: Repository,
  summary: XoPointSummary,
): Promise<XoImportedPoint> {
  const { signal } = task
  const point = await openPoint(remote, summary.id, signal)
  const meta = point.metadata
  const ova =
    meta.mode === 'full'
      ? await readAuthenticatedOva(remote, resolveFrom(meta.file, meta.xva, `XVA of ${meta.file}`), signal)
      : undefined
  const metadata = importedMetadata(meta, { backup: summary.id, remote: remote.name }, ova)
  const writer = await PointWriter.begin(repo, {
    vm: summary.vm,
    metadata,
    tags: [importTag(summary.id)],
    jobId: meta.jobId,
    scheduleId: meta.scheduleId,
    time: new Date(meta.timestamp),
    signal,
  })
  try {
    let size = 0
    const disks = pointDisks(meta, ova)
    for (const [i, disk] of disks.entries()) {
      const source = new XoDiskSource(await point.openDisk(i, signal))
      size += source.size
      const name = String(disk.vdi.name_label ?? `disk ${i}`)
      const sink = new ChunkSink([writer.openDisk(name, source.size, -1)], {
        onProgress: (done, total) => task.progress({ done, total }),
      })
      await copyDisk(source, sink, { signal, warn: (m, d) => task.warn(m, d) })
    }
    const done = await writer.commit({ full: true })
    task.set({ point: done.ref })
    return {
      backup: summary.id,
      vm: summary.vm,
      timestamp: meta.timestamp,
      mode: meta.mode,
      jobId: meta.jobId,
      point: done.ref,
      disks: disks.length,
      size,
      newBytes: done.stats.reduce((n, s) => n + s.newBytes, 0),
    }
  } catch (error) {
    await writer.abort().catch(() => undefined)
    throw error
  }
}

/** The point's own data is bad (its chain, a block, its XVA): skip it. Anything else stops the import. */
function isPointError(error: unknown): boolean {
  if (!(error instanceof StrataError) || error.retryable) return false
  return /^(XO_|VHD_|DISK_SOURCE_INVALID$)/.test(error.code) && error.code !== 'XO_READ_ONLY'
}
