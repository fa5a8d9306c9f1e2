// Restore points: listing (from the point index, or by VM from key names alone), reading manifests and
// disk indexes, and deleting (manifest first, so that a crash mid-delete leaves only unreferenced
// indexes for GC, then the point's index entries).
import { throwIfAborted } from '../shared/index.js'
import { isNotFound } from '../storage/index.js'
import { lockedUntil } from './immutability.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { refuseIfProtected } from './protection.js'
import { KIND_INDEX, PREFIX_POINTS } from './format/constants.js'
import { decodeDiskIndex, type DiskIndex } from './format/disk-index.js'
import { POINT_INDEX_READY_KEY } from './format/point-index.js'
import { readManifest, type PointSummary } from './manifest-reader.js'
import { deletePointEntries, pointEntries, readPointIndex } from './point-index.js'
import {
  decodeVmSegment,
  formatPointRef,
  manifestKey,
  parseManifestKey,
  parseProtectionKey,
  pointPrefix,
  pointTime,
  vmPrefix,
  type PointRef,
} from './format/layout.js'

export { readManifest, type PointSummary }

/**
 * Points of one VM (or all), oldest first. All: from the point index (one listing, manifests read once
 * per process), or, in a repository without one yet, from the point directories. One VM: from the keys
 * of its directory (a few dozen objects, and exact whatever wrote them).
 */
export async function listPoints(
  repo: Repository,
  vm?: string,
  signal?: AbortSignal,
): Promise<PointSummary[]> {
  const indexed = vm === undefined ? await readPointIndex(repo, { signal }) : undefined
  return indexed?.map(({ manifest: _, ...p }) => p) ?? walkPoints(repo, vm, signal)
}

/** Points of one VM (or all) from the keys under points/: every committed point, whoever wrote it. */
export async function walkPoints(
  repo: Repository,
  vm?: string,
  signal?: AbortSignal,
): Promise<PointSummary[]> {
  const out: PointSummary[] = []
  const marked = new Set<string>()
  for await (const info of repo.store.list(vm === undefined ? PREFIX_POINTS : vmPrefix(vm), { signal })) {
    const ref = parseManifestKey(info.key)
    const time = ref && pointTime(ref.pointId)
    if (ref && time) out.push({ ...ref, ref: formatPointRef(ref), time, protected: false })
    const mark = parseProtectionKey(info.key)
    if (mark !== undefined) marked.add(formatPointRef(mark))
  }
  return out
    .map((p) => (marked.has(p.ref) ? { ...p, protected: true } : p))
    .sort((a, b) => a.time.getTime() - b.time.getTime() || a.pointId.localeCompare(b.pointId))
}

/** Resolves what a user typed: '<vm>/<point id>' or a bare point id (searched across VMs). */
export async function resolvePoint(repo: Repository, text: string, signal?: AbortSignal): Promise<PointRef> {
  const slash = text.lastIndexOf('/')
  if (slash > 0) {
    const ref = { vm: decodeVmSegment(text.slice(0, slash)), pointId: text.slice(slash + 1) }
    if ((await repo.store.stat(manifestKey(ref), { signal })) !== undefined) return ref
  } else {
    const found = await pointsWithId(repo, text, signal)
    if (found.length === 1) return found[0]!
  }
  throw new RepositoryError('POINT_NOT_FOUND', `no restore point '${text}' in repository '${repo.name}'`)
}

/** The committed points whose id is `pointId` (any VM): from its index entries where there is an index. */
async function pointsWithId(repo: Repository, pointId: string, signal?: AbortSignal): Promise<PointRef[]> {
  if (pointTime(pointId) === undefined) return []
  const walked = async (): Promise<PointRef[]> =>
    (await walkPoints(repo, undefined, signal))
      .filter((p) => p.pointId === pointId)
      .map((p) => ({ vm: p.vm, pointId: p.pointId }))
  if ((await repo.store.stat(POINT_INDEX_READY_KEY, { signal })) === undefined) return walked()
  const found = new Map<string, PointRef>()
  for (const { vm } of await pointEntries(repo, pointId, signal)) {
    const ref = { vm, pointId }
    if ((await repo.store.stat(manifestKey(ref), { signal })) !== undefined)
      found.set(formatPointRef(ref), ref)
  }
  // None: perhaps a point an older version wrote (no entry); the walk is the answer's cost, once.
  if (found.size === 0) return walked()
  return [...found.values()]
}

export async function readDiskIndex(repo: Repository, key: string, signal?: AbortSignal): Promise<DiskIndex> {
  const what = `disk index '${key}' in repository '${repo.name}'`
  let bytes: Uint8Array
  try {
    bytes = await repo.store.get(key, { signal })
  } catch (error) {
    if (isNotFound(error)) throw new RepositoryError('CORRUPT_OBJECT', `${what} is missing`)
    throw error
  }
  const index = decodeDiskIndex(repo.decode(bytes, KIND_INDEX, new TextEncoder().encode(key), what), what)
  if (index.chunkSize !== repo.chunkSize) {
    throw new RepositoryError(
      'CORRUPT_OBJECT',
      `${what} has chunk size ${index.chunkSize}, not ${repo.chunkSize}`,
    )
  }
  return index
}

/**
 * Deletes a restore point: the manifest first (un-commit), then its indexes. Chunks are left to GC. A
 * protected point is refused (POINT_PROTECTED).
 */
export async function deletePoint(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<void> {
  await refuseIfProtected(repo, ref, signal)
  // Immutable repositories: the manifest's retention is the point's date (the last object it wrote).
  // A manifest already gone is a delete cut short (its index entry left behind): this one finishes it.
  const until = await lockedUntil(repo.store, manifestKey(ref), signal).catch((error: unknown) => {
    if (isNotFound(error)) return undefined
    throw error
  })
  if (until !== undefined) {
    throw new RepositoryError(
      'POINT_LOCKED',
      `restore point ${formatPointRef(ref)} in repository '${repo.name}' is retained until ` +
        `${until.toISOString()} (Object Lock): it cannot be forgotten before`,
      { details: { until: until.toISOString() } },
    )
  }
  await repo.store.delete(manifestKey(ref), { signal })
  const keys: string[] = []
  for await (const info of repo.store.list(pointPrefix(ref), { signal })) keys.push(info.key)
  for (const key of keys) {
    throwIfAborted(signal)
    await repo.store.delete(key, { signal })
  }
  // Last: until the entries go, a listing that knew the point still shows it (a crash here leaves it
  // listed until the next delete of it, or `repo check --repair`; reading it says POINT_NOT_FOUND).
  await deletePointEntries(repo, ref, signal)
}
