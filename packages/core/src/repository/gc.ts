// Garbage collection without a lock (docs/repository-format.md, "Concurrency"):
//  1. cutoff = min(now, start of the oldest live session) − safety margin: younger chunks are never deleted;
//  2. mark every chunk of every manifest's indexes into a fixed-size Bloom filter;
//  3. announce the sweep (gc/<run>-<n>/sweep), then read the live sessions (bases, borrowed chunks) and the
//     manifests committed since step 2, and mark those too;
//  4. delete unmarked chunks older than the cutoff, in batches: each batch renews the announcement and
//     reads the sessions again, so that a waiting writer waits for one batch only; deletes are bounded
//     in time (gc-deletes.ts), and the last announcement lingers for the check window after them.
// A writer publishes a borrowed chunk before checking for sweeps, GC announces before reading sessions.
import { randomUUID } from 'node:crypto'
import type { ObjectStore } from '../storage/index.js'
import { removeStaleEntries } from './point-index-check.js'
import { RepositoryError } from './errors.js'
import { isObjectLocked } from './immutability.js'
import type { Repository } from './repository.js'
import { DEFAULT_TIMING, fullTiming, type SessionTiming } from './session.js'
import { Announcement, SweepDeletes } from './gc-sweep.js'
import { sweepCold, type ColdSweepResult } from './gc-cold.js'
import { sweepChunkObjects } from './gc-chunk-sweep.js'
import { MAX_SWEEP_DEADLINE_MS } from './sweeps.js'
import { purgeQuarantine } from './quarantine.js'
import { MarkSet } from './mark-set.js'
import { isLive, listSessions, readProtection, type SessionState } from './gc-sessions.js'
import { readDiskIndex, readManifest } from './points.js'
import { PREFIX_GC, PREFIX_POINTS } from './format/constants.js'
import { manifestKey, parseManifestKey, pointPrefix, type PointRef } from './format/layout.js'
import type { Manifest } from './format/manifest.js'

export interface GcOptions {
  /** Chunks younger than this are kept whatever the marks say (default 1 hour). */
  readonly safetyMarginMs?: number
  /**
   * An announcement stops deleting after this long, so that waiting writers never wait forever
   * (default 30 min, at most 1 hour: writers ignore deadlines further ahead).
   */
  readonly sweepDeadlineMs?: number
  /** The announcement is renewed (sessions read again) after each batch of this long (default 1 min). */
  readonly sweepBatchMs?: number
  readonly timing?: SessionTiming
  readonly maxMarkBytes?: number
  readonly dryRun?: boolean
  /** Also delete every chunk verify moved to quarantine (kept until then). */
  readonly purgeQuarantine?: boolean
  readonly signal?: AbortSignal
}

export interface GcResult {
  readonly points: number
  readonly indexesMarked: number
  readonly idsMarked: number
  readonly markBytes: number
  readonly liveSessions: number
  readonly chunks: number
  readonly chunksDeleted: number
  /** Unreferenced chunks kept because their Object Lock retention has not ended (immutable repositories). */
  readonly keptLocked: number
  readonly bytesDeleted: number
  readonly keptYoung: number
  readonly otherObjectsDeleted: number
  readonly stoppedAtDeadline: boolean
  /** Quarantined chunks deleted (with purgeQuarantine; in a dry run, how many would go). */
  readonly quarantinePurged: number
  /** The cold tier's sweep (docs/repository-format.md, "Cold tier"); absent without an open cold tier. */
  readonly cold?: ColdSweepResult
}

interface PointsScan {
  readonly manifests: PointRef[]
  /** Keys under points/ whose point has no manifest (crashed backups, interrupted deletes). */
  readonly orphans: { key: string; pointId: string; manifest: string; modified: Date | undefined }[]
}

export async function collectGarbage(repo: Repository, options: GcOptions = {}): Promise<GcResult> {
  const { signal } = options
  const timing = fullTiming(options.timing ?? DEFAULT_TIMING)
  checkSweepDeadline(options.sweepDeadlineMs, timing)
  const start = Date.now()
  const sessions = await listSessions(repo, signal)
  const live = [...sessions.values()].filter((s) => isLive(s, timing.leaseMs, start))
  const stores = [repo.store, repo.cold?.store].filter((s) => s !== undefined)
  const cutoff = cutoffFor(start, live, options.safetyMarginMs ?? 3_600_000, stores)
  const scan = await scanPoints(repo, signal)
  const { marks, marked, idsMarked } = await markCommitted(repo, scan.manifests, options)

  const run = `${new Date(start).toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`
  const announcement = new Announcement(repo, run, new Date(start).toISOString(), options)
  const deletes = new SweepDeletes(repo, timing, signal)
  const coldStore = repo.cold?.store
  const coldDeletes = coldStore && new SweepDeletes(repo, timing, signal, coldStore)
  const livePoints = new Set<string>()
  let idsLater = 0
  // After each announcement: sessions first, then manifests (a writer commits before closing its session).
  const announce = async (): Promise<void> => {
    await announcement.publish()
    const protectedIds = await markProtected(repo, marks, timing, signal)
    for (const point of protectedIds.livePoints) livePoints.add(point)
    idsLater += protectedIds.ids + (await markLateManifests(repo, marks, marked, signal))
  }
  try {
    await announce()
    // The next announcement is up before the last one goes: writers never see a gap between batches.
    const renew = (): Promise<void> => announce()
    const batchMs = options.sweepBatchMs ?? 60_000
    const dryRun = options.dryRun === true
    const context = { announcement, renew, batchMs, dryRun, signal }
    const sweep = await sweepChunkObjects(marks, cutoff, { ...context, deletes })
    const cold =
      coldStore && coldDeletes && !sweep.stoppedAtDeadline
        ? await sweepCold(repo, coldStore, marks, cutoff, { ...context, deletes: coldDeletes })
        : undefined
    let other = 0
    if (!options.dryRun) {
      other += await removeOrphans(repo, scan.orphans, livePoints, cutoff, signal)
      other += await removeStaleEntries(repo, scan.manifests, livePoints, cutoff, signal)
      other += await removeDeadRecords(repo, sessions, timing, cutoff, run, signal)
    }
    const quarantinePurged = options.purgeQuarantine
      ? await purgeQuarantine(repo, { dryRun: options.dryRun, signal })
      : 0
    return {
      points: scan.manifests.length,
      indexesMarked: marked.size,
      idsMarked: idsMarked + idsLater,
      markBytes: marks.bytes,
      liveSessions: live.length,
      ...sweep,
      otherObjectsDeleted: other,
      quarantinePurged,
      ...(cold && { cold }),
    }
  } finally {
    // Writers that saw no sweep count on this: no delete lands later than the check window before it goes.
    await Promise.all([deletes.linger(), coldDeletes?.linger()])
    await announcement.withdraw()
  }
}

function checkSweepDeadline(ms: number | undefined, timing: Required<SessionTiming>): void {
  if (ms === undefined || (ms > timing.checkWindowMs && ms <= MAX_SWEEP_DEADLINE_MS)) return
  throw new RepositoryError(
    'INVALID_ARGUMENT',
    `GC sweep deadline ${ms} ms: more than the check window (${timing.checkWindowMs} ms), at most ${MAX_SWEEP_DEADLINE_MS} ms`,
  )
}

/**
 * Chunks listed as modified after this instant are never deleted. A store that keeps coarse times lists
 * an object written just after GC started as up to one step older: the cutoff moves back by that step,
 * whatever the margin.
 */
function cutoffFor(start: number, live: SessionState[], margin: number, stores: ObjectStore[]): number {
  if (!(margin >= 0))
    throw new RepositoryError('INVALID_ARGUMENT', `GC safety margin ${margin} ms is negative`)
  const step = Math.max(0, ...stores.map((s) => s.capabilities.fileSystem?.timestampResolutionMs ?? 0))
  return Math.min(start, ...live.map((s) => (s.opened ?? s.newest).getTime())) - margin - step
}

/** Marks every index of the listed manifests, in a Bloom filter sized from the manifests' disk sizes. */
async function markCommitted(
  repo: Repository,
  manifests: readonly PointRef[],
  options: GcOptions,
): Promise<{ marks: MarkSet; marked: Set<string>; idsMarked: number }> {
  const { signal } = options
  const indexKeys = new Map<string, PointRef>()
  let expected = 0
  for (const ref of manifests) {
    for (const disk of (await readManifestIfPresent(repo, ref, signal))?.disks ?? []) {
      indexKeys.set(disk.index, ref)
      expected += Math.ceil(disk.size / disk.chunkSize)
    }
  }
  const marks = new MarkSet(expected + 65_536, options.maxMarkBytes)
  const marked = new Set<string>()
  let idsMarked = 0
  for (const [key, ref] of indexKeys) {
    const ids = await readIndexIfCommitted(repo, key, ref, signal)
    if (ids !== undefined) idsMarked += marks.addAll(ids)
    marked.add(key)
  }
  return { marks, marked, idsMarked }
}

/** Marks what live sessions protect: their bases and borrowed chunks (also the tier mover's). */
export async function markProtected(
  repo: Repository,
  marks: MarkSet,
  timing: SessionTiming,
  signal?: AbortSignal,
): Promise<{ ids: number; livePoints: Set<string> }> {
  const livePoints = new Set<string>()
  let ids = 0
  for (const session of (await listSessions(repo, signal)).values()) {
    if (!isLive(session, timing.leaseMs, Date.now())) continue
    const protection = await readProtection(repo, session, signal)
    if (protection === undefined) continue
    livePoints.add(protection.open.pointId)
    for (const borrowed of protection.borrowed) ids += marks.addAll(borrowed)
    for (const key of protection.open.bases) {
      try {
        ids += marks.addAll((await readDiskIndex(repo, key, signal)).ids)
      } catch (cause) {
        const message = `base index '${key}' of a running backup in '${repo.name}' is unreadable; GC deletes nothing`
        throw new RepositoryError('GC_UNSAFE', message, { cause })
      }
    }
  }
  return { ids, livePoints }
}

/** Marks the indexes of manifests committed since the mark phase. */
async function markLateManifests(
  repo: Repository,
  marks: MarkSet,
  marked: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<number> {
  let ids = 0
  for (const ref of (await scanPoints(repo, signal)).manifests) {
    for (const disk of (await readManifestIfPresent(repo, ref, signal))?.disks ?? []) {
      if (marked.has(disk.index)) continue
      const found = await readIndexIfCommitted(repo, disk.index, ref, signal)
      if (found !== undefined) ids += marks.addAll(found)
    }
  }
  return ids
}

/** Indexes of points that never committed (crashed backups), once old and not a live session's. */
async function removeOrphans(
  repo: Repository,
  orphans: PointsScan['orphans'],
  livePoints: ReadonlySet<string>,
  cutoff: number,
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0
  for (const orphan of orphans) {
    if (livePoints.has(orphan.pointId) || (orphan.modified?.getTime() ?? Infinity) >= cutoff) continue
    if ((await repo.store.stat(orphan.manifest, { signal })) !== undefined) continue // committed since
    try {
      await repo.store.delete(orphan.key, { signal })
    } catch (error) {
      if (isObjectLocked(error)) continue // retained still: a later GC takes it
      throw error
    }
    removed++
  }
  return removed
}

/** A manifest deleted since it was listed is skipped: its point is being forgotten. */
async function readManifestIfPresent(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
): Promise<Manifest | undefined> {
  try {
    return await readManifest(repo, ref, signal)
  } catch (error) {
    if (error instanceof RepositoryError && error.code === 'POINT_NOT_FOUND') return undefined
    throw error
  }
}

/**
 * The ids of a committed point's index. A missing index whose manifest is gone too belongs to a point
 * being forgotten (manifest first, then indexes); with the manifest still there it is damage, and GC
 * stops rather than delete chunks it cannot account for.
 */
async function readIndexIfCommitted(
  repo: Repository,
  key: string,
  ref: PointRef,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  try {
    return (await readDiskIndex(repo, key, signal)).ids
  } catch (cause) {
    if ((await repo.store.stat(manifestKey(ref), { signal })) === undefined) return undefined
    throw new RepositoryError(
      'GC_UNSAFE',
      `index '${key}' in '${repo.name}' is unreadable; GC deletes nothing`,
      { cause },
    )
  }
}

async function scanPoints(repo: Repository, signal?: AbortSignal): Promise<PointsScan> {
  const manifests: PointRef[] = []
  const byPoint = new Map<string, PointsScan['orphans']>()
  const committed = new Set<string>()
  for await (const info of repo.store.list(PREFIX_POINTS, { signal })) {
    const ref = parseManifestKey(info.key)
    if (ref !== undefined) {
      manifests.push(ref)
      committed.add(pointPrefix(ref))
      continue
    }
    const prefix = info.key.slice(0, info.key.lastIndexOf('/') + 1)
    const pointId = prefix.split('/')[2] ?? ''
    const orphan = { key: info.key, pointId, manifest: `${prefix}manifest`, modified: info.modified }
    byPoint.set(prefix, [...(byPoint.get(prefix) ?? []), orphan])
  }
  const orphans = [...byPoint.entries()]
    .filter(([prefix]) => !committed.has(prefix))
    .flatMap(([, keys]) => keys)
  return { manifests, orphans }
}

async function removeDeadRecords(
  repo: Repository,
  sessions: Awaited<ReturnType<typeof listSessions>>,
  timing: SessionTiming,
  cutoff: number,
  run: string,
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0
  for (const session of sessions.values()) {
    // Dead twice over: past its lease, and older than the cutoff.
    if (isLive(session, timing.leaseMs, Date.now()) || session.newest.getTime() >= cutoff) continue
    for (const key of session.keys) {
      await repo.store.delete(key, { signal })
      removed++
    }
  }
  for await (const info of repo.store.list(PREFIX_GC, { signal })) {
    if (
      !info.key.startsWith(`${PREFIX_GC}${run}-`) &&
      (info.modified?.getTime() ?? Infinity) < cutoff - 24 * 3_600_000
    ) {
      await repo.store.delete(info.key, { signal })
      removed++
    }
  }
  return removed
}
