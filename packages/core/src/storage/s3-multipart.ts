// Multipart upload of one in-memory object. The object becomes visible only at
// CompleteMultipartUpload, so a failed upload never leaves a partial object under the key; on failure
// the upload is aborted so that the provider frees (and stops billing) the parts.
import { createHash } from 'node:crypto'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { Semaphore, anySignal } from '../shared/index.js'
import type { Retention } from './object-store.js'
import { s3Error } from './s3-errors.js'
import { lockHeaders } from './s3-object-lock.js'
import { StorageError } from './storage-error.js'

export interface MultipartRequest {
  client: S3Client
  bucket: string
  key: string
  data: Uint8Array
  partSize: number
  concurrency: number
  /** Sends If-None-Match: * on completion: the create-only check happens when the object appears. */
  ifNoneMatch: boolean
  what: string
  retain?: Retention
  signal: AbortSignal | undefined
}

/** S3 allows at most 10 000 parts; grow the part size rather than fail on a large object. */
export function partSizeFor(length: number, minPartSize: number): number {
  return Math.max(minPartSize, 5 * 1024 * 1024, Math.ceil(length / 10_000))
}

export async function putMultipart(req: MultipartRequest): Promise<void> {
  const { client, bucket: Bucket, key: Key, signal, what } = req
  const created = await client
    .send(new CreateMultipartUploadCommand({ Bucket, Key, ...lockHeaders(req.retain) }), {
      abortSignal: signal,
    })
    .catch((error: unknown) => {
      throw s3Error(error, what, signal)
    })
  const UploadId = created.UploadId
  if (UploadId === undefined) throw new StorageError('CORRUPT_RESPONSE', `${what}: no UploadId in the answer`)
  try {
    const Parts = await uploadParts(req, UploadId)
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts },
        IfNoneMatch: req.ifNoneMatch ? '*' : undefined,
      }),
      { abortSignal: signal },
    )
  } catch (error) {
    // Not under the caller's signal: the abort must happen even when the caller gave up.
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined)
    throw s3Error(error, what, signal)
  }
}

/** On the first failed part the others are cancelled, and all have settled before this rejects. */
async function uploadParts(req: MultipartRequest, UploadId: string) {
  const size = partSizeFor(req.data.length, req.partSize)
  const count = Math.ceil(req.data.length / size)
  const limit = new Semaphore(req.concurrency)
  const failed = new AbortController()
  const signal = anySignal(req.signal, failed.signal)
  let firstError: unknown
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      limit
        .run(async () => {
          const Body = req.data.subarray(i * size, Math.min(req.data.length, (i + 1) * size))
          const out = await req.client.send(
            new UploadPartCommand({
              Bucket: req.bucket,
              Key: req.key,
              UploadId,
              PartNumber: i + 1,
              Body,
              ContentLength: Body.length,
              ContentMD5: createHash('md5').update(Body).digest('base64'),
            }),
            { abortSignal: signal },
          )
          return { PartNumber: i + 1, ETag: out.ETag }
        }, signal)
        .catch((error: unknown) => {
          if (!failed.signal.aborted) firstError = error
          failed.abort()
          throw error
        }),
    ),
  )
  if (failed.signal.aborted) throw firstError
  return results.map((r) => (r as PromiseFulfilledResult<{ PartNumber: number; ETag?: string }>).value)
}

export interface OldUpload {
  readonly Key: string
  readonly UploadId: string
  readonly Initiated: Date
}

/**
 * Multipart uploads under `Prefix` started more than `olderThanMs` ago, page by page
 * (ListMultipartUploads, 1000 at most per page): never the whole list in memory.
 */
export async function* listOldUploads(
  client: S3Client,
  Bucket: string,
  Prefix: string,
  olderThanMs: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<OldUpload> {
  const cutoff = Date.now() - olderThanMs
  let markers: { KeyMarker?: string; UploadIdMarker?: string } = {}
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix, ...markers }), {
      abortSignal: signal,
    })
    for (const { Key, UploadId, Initiated } of page.Uploads ?? []) {
      if (Key === undefined || UploadId === undefined || Initiated === undefined) continue
      if (Initiated.getTime() <= cutoff) yield { Key, UploadId, Initiated }
    }
    if (!page.IsTruncated) return
    markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker }
  }
}

/** Aborts multipart uploads under `prefix` started more than `olderThanMs` ago; returns how many. */
export async function abortOldUploads(
  client: S3Client,
  Bucket: string,
  Prefix: string,
  olderThanMs: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let aborted = 0
  for await (const { Key, UploadId } of listOldUploads(client, Bucket, Prefix, olderThanMs, signal)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), { abortSignal: signal })
    aborted++
  }
  return aborted
}
