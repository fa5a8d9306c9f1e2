// Restore points: listing by VM (keys only, no manifest reads), reading manifests and disk indexes, and
// deleting (manifest first, so that a crash mid-delete leaves only unreferenced indexes for GC).
import { throwIfAborted } from '../shared/index.js'
import { isNotFound } from '../storage/index.js'
import { lockedUntil } from './immutability.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { refuseIfProtected } from './protection.js'
import { KIND_INDEX, KIND_MANIFEST, PREFIX_POINTS } from './format/constants.js'
import { decodeDiskIndex, type DiskIndex } from './format/disk-index.js'
import { decodeManifest, type Manifest } from './format/manifest.js'
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

export interface PointSummary extends PointRef {
  /** '<vm segment>/<point id>', what users type. */
  readonly ref: string
  readonly time: Date
  /** Kept by retention, refused to deletes (a `protected` marker beside the manifest). */
  readonly protected: boolean
}

/** Points of one VM (or all), oldest first, from key names alone. */
export async function listPoints(
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
    const found = (await listPoints(repo, undefined, signal)).filter((p) => p.pointId === text)
    if (found.length === 1) return { vm: found[0]!.vm, pointId: found[0]!.pointId }
  }
  throw new RepositoryError('POINT_NOT_FOUND', `no restore point '${text}' in repository '${repo.name}'`)
}

export async function readManifest(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<Manifest> {
  const key = manifestKey(ref)
  const what = `manifest of restore point '${formatPointRef(ref)}' in repository '${repo.name}'`
  let bytes: Uint8Array
  try {
    bytes = await repo.store.get(key, { signal })
  } catch (error) {
    if (isNotFound(error)) throw new RepositoryError('POINT_NOT_FOUND', `${what} does not exist`)
    throw error
  }
  const manifest = decodeManifest(
    repo.decode(bytes, KIND_MANIFEST, new TextEncoder().encode(key), what),
    what,
  )
  if (manifest.pointId !== ref.pointId || manifest.vm.id !== ref.vm) {
    throw new RepositoryError('CORRUPT_OBJECT', `${what} names another point`)
  }
  return manifest
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
  const until = await lockedUntil(repo.store, manifestKey(ref), signal)
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
}
