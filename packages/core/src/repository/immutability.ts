// Immutable repositories (S3 Object Lock, or a local file system's immutable attribute; docs/immutability.md): the bucket check made at init and at
// every open, the retention new objects get, and the extension of older chunks a new point shares.
import { Semaphore } from '../shared/index.js'
import { StorageError, type ObjectStore, type Retention } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import type { ImmutablePolicy } from './format/config.js'
import { PREFIX_CHUNKS } from './format/constants.js'

/** PutObjectRetention requests in flight while extending a point's chunks. */
export const EXTEND_CONCURRENCY = 8

/** Throws OBJECT_LOCK_REQUIRED unless the store's bucket has Object Lock enabled. */
export async function assertObjectLock(store: ObjectStore, signal?: AbortSignal): Promise<void> {
  if (store.objectLock === undefined) {
    throw new RepositoryError(
      'OBJECT_LOCK_REQUIRED',
      `'${store.name}' cannot hold an immutable repository: only S3 buckets with Object Lock and ` +
        'local directories whose file system has the immutable attribute can',
    )
  }
  if (!(await store.objectLock.enabled({ signal }))) {
    const refusal = store.objectLock.refusal
    if (refusal !== undefined)
      throw new RepositoryError(
        'OBJECT_LOCK_REQUIRED',
        `'${store.name}' cannot hold an immutable repository: ${refusal}`,
      )
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

export interface LockedSummary {
  /** Restore points whose manifest is retained beyond now: they cannot be forgotten yet. */
  readonly points: number
  /** Chunks retained beyond now, and their stored bytes: what no delete can free yet. */
  readonly chunks: number
  readonly bytes: number
}

/**
 * What Object Lock holds now in an immutable repository: one HEAD per manifest and per chunk (bounded
 * concurrency), so its cost grows with the repository; `repo info` shows it.
 */
export async function lockedSummary(
  store: ObjectStore,
  manifests: readonly string[],
  signal?: AbortSignal,
): Promise<LockedSummary> {
  let points = 0
  let chunks = 0
  let bytes = 0
  const limit = new Semaphore(EXTEND_CONCURRENCY)
  const running = new Set<Promise<unknown>>()
  let failure: unknown
  // The slot is taken before each look, so the listing waits for it: memory stays bounded.
  const look = async (key: string, found: () => void): Promise<void> => {
    await limit.acquire(signal)
    const one = lockedUntil(store, key, signal)
      .then((until) => void (until && found()))
      .catch((error: unknown) => void (failure ??= error))
      .finally(() => (limit.release(), running.delete(one)))
    running.add(one)
  }
  for (const key of manifests) await look(key, () => points++)
  for await (const info of store.list(PREFIX_CHUNKS, { signal }))
    await look(info.key, () => ((chunks += 1), (bytes += info.size)))
  await Promise.all(running)
  if (failure !== undefined) throw failure
  return { points, chunks, bytes }
}
