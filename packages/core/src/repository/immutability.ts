// Immutable repositories (S3 Object Lock, docs/immutability.md): the bucket check made at init and at
// every open, the retention new objects get, and the extension of older chunks a new point shares.
import { Semaphore } from '../shared/index.js'
import { StorageError, type ObjectStore, type Retention } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import type { ImmutablePolicy } from './format/config.js'

/** PutObjectRetention requests in flight while extending a point's chunks. */
export const EXTEND_CONCURRENCY = 8

/** Throws OBJECT_LOCK_REQUIRED unless the store's bucket has Object Lock enabled. */
export async function assertObjectLock(store: ObjectStore, signal?: AbortSignal): Promise<void> {
  if (store.objectLock === undefined) {
    throw new RepositoryError(
      'OBJECT_LOCK_REQUIRED',
      `'${store.name}' cannot hold an immutable repository: only S3 buckets with Object Lock can`,
    )
  }
  if (!(await store.objectLock.enabled({ signal }))) {
    throw new RepositoryError(
      'OBJECT_LOCK_REQUIRED',
      `the bucket of '${store.name}' does not have Object Lock enabled: an immutable repository needs a ` +
        'bucket created with it (aws s3api create-bucket --object-lock-enabled-for-bucket)',
    )
  }
}

/** The retention of an object written now under `policy`. */
export function retentionFrom(policy: ImmutablePolicy, now = Date.now()): Retention {
  return {
    mode: policy.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    until: new Date(now + policy.seconds * 1000),
  }
}

/**
 * Makes each key retained at least until `retention.until`: a PutObjectRetention where its date is
 * earlier, never a rewrite. Resolves to how many were extended.
 */
export async function extendRetentions(
  store: ObjectStore,
  keys: Iterable<string>,
  retention: Retention,
  signal?: AbortSignal,
): Promise<number> {
  const lock = store.objectLock
  if (lock === undefined) return 0
  const limit = new Semaphore(EXTEND_CONCURRENCY)
  const running: Promise<void>[] = []
  let extended = 0
  let failure: unknown
  for (const key of keys) {
    if (failure !== undefined) break
    await limit.acquire(signal)
    const one = async (): Promise<void> => {
      const current = await lock.retention(key, { signal })
      if (current !== undefined && current.until >= retention.until) return
      await lock.extend(key, retention, { signal })
      extended++
    }
    running.push(
      one()
        .catch((error: unknown) => void (failure ??= error))
        .finally(() => limit.release()),
    )
  }
  await Promise.all(running)
  if (failure !== undefined) throw failure
  return extended
}

/** The date before which the point whose manifest is `key` cannot be forgotten, if it is still to come. */
export async function lockedUntil(
  store: ObjectStore,
  key: string,
  signal?: AbortSignal,
): Promise<Date | undefined> {
  const retention = await store.objectLock?.retention(key, { signal })
  return retention !== undefined && retention.until.getTime() > Date.now() ? retention.until : undefined
}

export function isObjectLocked(error: unknown): boolean {
  return error instanceof StorageError && error.code === 'OBJECT_LOCKED'
}
