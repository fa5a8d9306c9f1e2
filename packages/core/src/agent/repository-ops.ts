// What is read of a repository for the server's views, wherever it is opened: its usage (a walk of its
// chunks, and for an immutable one what the lock holds) and its points with their lock dates. The
// server calls these for its own repositories, an agent for the ones assigned to it; the point
// operations below (find one for a restore, delete, protect) are what an agent does for the server.
import { findRestorePoint, listRestorePoints, pointVmName, type RestorePointInfo } from '../engine/index.js'
import {
  deletePoint,
  formatPointRef,
  listPoints,
  lockedSummary,
  manifestKey,
  protectPoint,
  readManifest,
  resolvePoint,
  unprotectPoint,
  type Repository,
} from '../repository/index.js'
import type { PointFound } from './protocol-repository.js'

export interface RepositoryUsage {
  readonly bytes: number
  readonly chunks: number
  /** Immutable repositories: the points, chunks and bytes no delete can free yet. */
  readonly locked?: { readonly points: number; readonly chunks: number; readonly bytes: number }
}

/** A restore point as it crosses the link: its time in ms, its lock date while it is to come. */
export type WirePoint = Omit<RestorePointInfo, 'time'> & {
  readonly time: number
  readonly lockedUntil?: number
}

export async function measureRepositoryUsage(
  repo: Repository,
  signal: AbortSignal,
): Promise<RepositoryUsage> {
  let bytes = 0
  let chunks = 0
  for await (const info of repo.store.list('chunks/', { signal })) {
    bytes += info.size
    chunks++
  }
  if (repo.config.immutable === undefined) return { bytes, chunks }
  // What the lock holds: one look per manifest and per chunk (docs/immutability.md says the cost).
  const manifests = (await listPoints(repo, undefined, signal)).map((p) => manifestKey(p))
  return { bytes, chunks, locked: await lockedSummary(repo.store, manifests, signal) }
}

/** The points of one VM (uuid or name) or of all, oldest first, as the link carries them. */
export async function wirePoints(
  repo: Repository,
  vm: string | undefined,
  signal: AbortSignal,
): Promise<WirePoint[]> {
  const points = await listRestorePoints(repo, vm, signal)
  const now = Date.now()
  const out: WirePoint[] = []
  for (const p of points) {
    const wire = { ...p, time: p.time.getTime() }
    const lock =
      repo.config.immutable === undefined
        ? undefined
        : await repo.store.objectLock?.retention(manifestKey({ vm: p.vmUuid, pointId: p.pointId }), {
            signal,
          })
    const until = lock?.until.getTime()
    out.push(until !== undefined && until > now ? { ...wire, lockedUntil: until } : wire)
  }
  return out
}

/** The point a restore names (its id, or '<vm>/<id>'), with its VM's name for the run's name. */
export async function findPoint(repo: Repository, pointId: string, signal: AbortSignal): Promise<PointFound> {
  const ref = await findRestorePoint(repo, pointId, undefined, signal)
  return { point: formatPointRef(ref), vmName: pointVmName(await readManifest(repo, ref, signal)) }
}

/** Deletes one point (its chunks go at the next GC); a protected one is refused (POINT_PROTECTED). */
export async function deleteOnePoint(
  repo: Repository,
  pointId: string,
  signal: AbortSignal,
): Promise<{ pointId: string }> {
  const ref = await resolvePoint(repo, pointId, signal)
  await deletePoint(repo, ref, signal)
  return { pointId: ref.pointId }
}

/** Protects a point, or lifts its protection. */
export async function protectOnePoint(
  repo: Repository,
  pointId: string,
  on: boolean,
  signal: AbortSignal,
): Promise<{ pointId: string }> {
  const ref = await resolvePoint(repo, pointId, signal)
  await (on ? protectPoint(repo, ref, signal) : unprotectPoint(repo, ref, signal))
  return { pointId: ref.pointId }
}
