// Protected restore points: a point an admin wants kept whatever the retention says (the last good
// backup before an incident, a point kept for an audit). The mark is a small create-once object beside
// the point's manifest, `points/<vm>/<point id>/protected`, so that the listing of a VM's points shows
// which are protected without reading anything; unprotecting deletes it. Retention skips protected
// points and deletePoint refuses them (POINT_PROTECTED) until they are unprotected.
import { StorageError } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import { formatPointRef, manifestKey, protectionKey, type PointRef } from './format/layout.js'
import type { Repository } from './repository.js'
import { protectionMirrorKey } from './point-index.js'

/** What the marker holds (informative: its existence is what counts). */
export interface ProtectionRecord {
  readonly version: 1
  /** ISO 8601, when the point was protected. */
  readonly protected: string
}

export async function isProtected(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<boolean> {
  return (await repo.store.stat(protectionKey(ref), { signal })) !== undefined
}

/** Protects a committed point; protecting a protected one changes nothing. */
export async function protectPoint(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
  now: Date = new Date(),
): Promise<void> {
  if ((await repo.store.stat(manifestKey(ref), { signal })) === undefined)
    throw new RepositoryError(
      'POINT_NOT_FOUND',
      `no restore point '${formatPointRef(ref)}' in repository '${repo.name}'`,
    )
  const record: ProtectionRecord = { version: 1, protected: now.toISOString() }
  await putOnce(repo, protectionKey(ref), new TextEncoder().encode(JSON.stringify(record)), signal)
  // The marker is what retention and deletes obey; its mirror in the point index, what listings show.
  await putOnce(repo, protectionMirrorKey(ref), new Uint8Array(0), signal)
}

async function putOnce(repo: Repository, key: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
  try {
    await repo.store.put(key, data, { ifNoneMatch: true, signal })
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
  }
}

/** Lifts the protection (idempotent): retention and deletes may then take the point. */
export async function unprotectPoint(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<void> {
  await repo.store.delete(protectionKey(ref), { signal })
  await repo.store.delete(protectionMirrorKey(ref), { signal })
}

/** Throws POINT_PROTECTED for a protected point: what every delete checks first. */
export async function refuseIfProtected(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
): Promise<void> {
  if (await isProtected(repo, ref, signal))
    throw new RepositoryError(
      'POINT_PROTECTED',
      `restore point '${formatPointRef(ref)}' in repository '${repo.name}' is protected: unprotect it first`,
    )
}
