// S3 Object Lock for S3Store: the bucket's setting, a key's retention, its extension, and the deletes of
// a locked (hence versioned) bucket, which must remove versions: a plain DeleteObject there only adds a
// delete marker, hiding the object while it keeps its bytes and its lock.
import {
  DeleteObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { CallOptions, LockMode, Retention } from './object-store.js'
import { s3Error } from './s3-errors.js'
import { StorageError, isNotFound } from './storage-error.js'

export interface LockTarget {
  readonly client: S3Client
  readonly bucket: string
  /** For messages. */
  readonly name: string
}

export async function lockEnabled(t: LockTarget, options: CallOptions = {}): Promise<boolean> {
  try {
    const out = await t.client.send(new GetObjectLockConfigurationCommand({ Bucket: t.bucket }), {
      abortSignal: options.signal,
    })
    return out.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled'
  } catch (error) {
    const s3Code = (error as { name?: string }).name
    // What AWS and RGW answer for a bucket created without Object Lock.
    if (s3Code === 'ObjectLockConfigurationNotFoundError' || s3Code === 'InvalidRequest') return false
    throw s3Error(error, `cannot read the Object Lock configuration of ${t.name}`, options.signal)
  }
}

export async function readRetention(
  t: LockTarget,
  Key: string,
  options: CallOptions = {},
): Promise<Retention | undefined> {
  try {
    const out = await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key }), {
      abortSignal: options.signal,
    })
    const mode = out.ObjectLockMode
    const until = out.ObjectLockRetainUntilDate
    if ((mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') || until === undefined) return undefined
    return { mode, until }
  } catch (error) {
    const mapped = s3Error(error, `cannot read the retention of '${Key}' in ${t.name}`, options.signal)
    if (isNotFound(mapped))
      throw new StorageError('NOT_FOUND', `object '${Key}' not found in ${t.name}`, { cause: error })
    throw mapped
  }
}

export async function extendRetention(
  t: LockTarget,
  Key: string,
  { mode, until }: Retention,
  options: CallOptions = {},
): Promise<void> {
  const command = new PutObjectRetentionCommand({
    Bucket: t.bucket,
    Key,
    Retention: { Mode: mode, RetainUntilDate: until },
  })
  try {
    await t.client.send(command, { abortSignal: options.signal })
  } catch (error) {
    throw s3Error(error, `cannot extend the retention of '${Key}' in ${t.name}`, options.signal)
  }
}

/** Deletes every version and delete marker of `Key`; OBJECT_LOCKED if the server refuses one. */
export async function deleteVersions(t: LockTarget, Key: string, options: CallOptions = {}): Promise<void> {
  const what = `cannot delete '${Key}' from ${t.name}`
  let keyMarker: string | undefined
  let versionMarker: string | undefined
  do {
    const out = await t.client
      .send(
        new ListObjectVersionsCommand({
          Bucket: t.bucket,
          Prefix: Key,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
        { abortSignal: options.signal },
      )
      .catch((error: unknown) => {
        throw s3Error(error, what, options.signal)
      })
    const versions = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])]
    for (const v of versions) {
      if (v.Key !== Key || v.VersionId === undefined) continue // the prefix also matches longer keys
      await deleteVersion(t, Key, v.VersionId, what, options.signal)
    }
    keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined
    versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined
  } while (keyMarker !== undefined)
}

async function deleteVersion(
  t: LockTarget,
  Key: string,
  VersionId: string,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await t.client.send(new DeleteObjectCommand({ Bucket: t.bucket, Key, VersionId }), {
      abortSignal: signal,
    })
  } catch (error) {
    const mapped = s3Error(error, what, signal)
    if (isNotFound(mapped)) return
    if (mapped instanceof StorageError && mapped.code === 'ACCESS_DENIED') {
      throw new StorageError('OBJECT_LOCKED', `'${Key}' in ${t.name} is under Object Lock retention`, {
        cause: error,
        details: { permanent: true },
      })
    }
    throw mapped
  }
}

export function lockHeaders(retain: Retention | undefined): {
  ObjectLockMode?: LockMode
  ObjectLockRetainUntilDate?: Date
} {
  return retain === undefined ? {} : { ObjectLockMode: retain.mode, ObjectLockRetainUntilDate: retain.until }
}
