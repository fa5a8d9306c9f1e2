// A store in an S3 bucket (AWS or compatible: Ceph RGW, MinIO, ...), under an optional key prefix.
// The SDK makes exactly one attempt per call (maxAttempts: 1): retry lives in RetryingStore only, so
// that one policy, one backoff and one log line cover every store.
import { createHash, randomBytes } from 'node:crypto'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { throwIfAborted } from '../shared/index.js'
import { assertRange } from './range.js'
import {
  deleteVersions,
  extendRetention,
  lockEnabled,
  lockHeaders,
  readRetention,
  type LockTarget,
} from './s3-object-lock.js'
import type {
  CallOptions,
  Leftover,
  ObjectInfo,
  ObjectLock,
  ObjectStore,
  PutOptions,
  StoreCapabilities,
  RangeOptions,
} from './object-store.js'
import { readBody, rangeOf } from './s3-body.js'
import { s3Error } from './s3-errors.js'
import { abortOldUploads, listOldUploads, putMultipart } from './s3-multipart.js'
import { StorageError, assertValidKey, isNotFound } from './storage-error.js'

export interface S3Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

export interface S3StoreOptions {
  readonly bucket: string
  /** Key prefix inside the bucket, without leading or trailing '/' ('' for the bucket's root). */
  readonly prefix?: string
  /** e.g. 'https://s3.eu-west-1.amazonaws.com' or 'http://127.0.0.1:7480'; the SDK's default if absent. */
  readonly endpoint?: string
  readonly region?: string
  /** 'host/bucket/key' URLs instead of 'bucket.host/key': what most self-hosted servers need. */
  readonly forcePathStyle?: boolean
  readonly credentials: S3Credentials
  /** Whether the server honours `If-None-Match: *` on PUT; openStore probes it when asked to. */
  readonly conditionalCreate?: boolean
  /** Objects larger than this go up in parts (default 32 MiB). */
  readonly multipartThreshold?: number
  readonly partSize?: number
  readonly partConcurrency?: number
  /** A request whose connection stays silent this long fails as TRANSIENT (default 120 s). */
  readonly idleTimeoutMs?: number
  readonly connectTimeoutMs?: number
  readonly maxSockets?: number
  /** Keys per ListObjectsV2 page (default: the server's, 1000); small values test pagination. */
  readonly listPageSize?: number
}

const MiB = 1024 * 1024
const MAX_SINGLE_PUT = 5 * 1024 * MiB

export class S3Store implements ObjectStore {
  readonly name: string
  readonly #client: S3Client
  readonly #bucket: string
  readonly #prefix: string
  readonly #options: S3StoreOptions
  #capabilities: StoreCapabilities
  /** Set once the bucket was seen with Object Lock: deletes then remove versions (s3-object-lock.ts). */
  #versioned = false
  readonly objectLock: ObjectLock

  constructor(options: S3StoreOptions) {
    this.#options = options
    this.#bucket = options.bucket
    this.#prefix = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, '')}/` : ''
    this.name = `s3:${options.bucket}/${this.#prefix}`
    this.#capabilities = {
      conditionalCreate: options.conditionalCreate ?? false,
      listAfterWriteConsistent: true,
      takesSha256: true,
    }
    const agent = { keepAlive: true, maxSockets: options.maxSockets ?? 50 }
    this.#client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      maxAttempts: 1,
      // Checksum trailers (aws-chunked) are not understood by many compatible servers; we send Content-MD5.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: new HttpAgent(agent),
        httpsAgent: new HttpsAgent(agent),
        connectionTimeout: options.connectTimeoutMs ?? 10_000,
        socketTimeout: options.idleTimeoutMs ?? 120_000,
      },
    })
    const target = this.#lockTarget()
    this.objectLock = {
      enabled: async (o) => (this.#versioned = (await lockEnabled(target, o)) || this.#versioned),
      retention: (key, o) => readRetention(target, this.#key(key), o),
      extend: (key, retention, o) => extendRetention(target, this.#key(key), retention, o),
    }
  }

  get capabilities(): StoreCapabilities {
    return this.#capabilities
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const Key = this.#key(key)
    const conditional = options.ifNoneMatch === true && this.#capabilities.conditionalCreate
    // Without server support, create-only is a best-effort check (capabilities say it is not atomic).
    if (options.ifNoneMatch && !conditional && (await this.stat(key, options)) !== undefined) {
      throw this.#exists(key)
    }
    // Create-only puts stay single (up to 5 GiB): servers such as Ceph RGW 16 ignore If-None-Match
    // on CompleteMultipartUpload, and a single PUT is atomic everywhere it is supported.
    const single = conditional ? MAX_SINGLE_PUT : (this.#options.multipartThreshold ?? 32 * MiB)
    const what = `cannot put '${key}' to ${this.name}`
    try {
      if (data.length > single) await this.#putParts(Key, data, conditional, what, options)
      else await this.#putSingle(Key, data, { conditional, ...options }, options.signal)
    } catch (error) {
      const mapped = s3Error(error, what, options.signal)
      const exists = mapped instanceof StorageError && mapped.code === 'ALREADY_EXISTS'
      throw exists ? this.#exists(key, error) : mapped
    }
  }

  async #putSingle(
    Key: string,
    data: Uint8Array,
    { conditional, sha256, retain }: { conditional: boolean } & PutOptions,
    signal?: AbortSignal,
  ): Promise<void> {
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key,
      Body: data,
      ContentLength: data.length,
      // The server refuses a body damaged or cut in transit instead of storing it: it checks the signed
      // payload hash, or else Content-MD5 (MD5 is three times as slow as SHA-256 with SHA-NI). A put with
      // retention needs Content-MD5 all the same (S3 refuses it without an integrity header).
      ContentMD5:
        sha256 === undefined || retain !== undefined
          ? createHash('md5').update(data).digest('base64')
          : undefined,
      IfNoneMatch: conditional ? '*' : undefined,
      ...lockHeaders(retain),
    })
    // SigV4 signs x-amz-content-sha256; one already set is taken instead of hashing the body here.
    if (sha256 !== undefined)
      command.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { headers?: Record<string, string> }
          if (request.headers !== undefined) request.headers['x-amz-content-sha256'] = sha256
          return next(args)
        },
        { step: 'build', name: 'strataPayloadHash' },
      )
    await this.#client.send(command, { abortSignal: signal })
  }

  #putParts(Key: string, data: Uint8Array, ifNoneMatch: boolean, what: string, options: PutOptions) {
    return putMultipart({
      client: this.#client,
      bucket: this.#bucket,
      key: Key,
      data,
      partSize: this.#options.partSize ?? 16 * MiB,
      concurrency: this.#options.partConcurrency ?? 4,
      ifNoneMatch,
      what,
      retain: options.retain,
      signal: options.signal,
    })
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    const what = `cannot get '${key}' from ${this.name}`
    const command = new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) })
    try {
      const out = await this.#client.send(command, { abortSignal: options.signal })
      return await readBody(out, what, options.signal)
    } catch (error) {
      throw this.#notFoundOr(error, key, what, options.signal)
    }
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    options: RangeOptions = {},
  ): Promise<Uint8Array> {
    assertRange(offset, length, key)
    const what = `cannot read ${length} bytes at ${offset} of '${key}' from ${this.name}`
    if (length === 0) {
      if ((await this.stat(key, options)) === undefined) throw this.#notFound(key)
      return new Uint8Array(0)
    }
    const Range = `bytes=${offset}-${offset + length - 1}`
    const command = new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key), Range })
    try {
      const out = await this.#client.send(command, { abortSignal: options.signal })
      return rangeOf(out, await readBody(out, what, options.signal, options.into), offset, length, what)
    } catch (error) {
      // 416: the object exists but ends before `offset`.
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) {
        return new Uint8Array(0)
      }
      throw this.#notFoundOr(error, key, what, options.signal)
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const command = new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) })
    try {
      const out = await this.#client.send(command, { abortSignal: options.signal })
      return { key, size: out.ContentLength ?? 0, modified: out.LastModified }
    } catch (error) {
      const mapped = s3Error(error, `cannot stat '${key}' in ${this.name}`, options.signal)
      if (isNotFound(mapped)) return undefined
      throw mapped
    }
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined
    do {
      throwIfAborted(options.signal)
      const command = new ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: this.#prefix + prefix,
        ContinuationToken: token,
        MaxKeys: this.#options.listPageSize,
      })
      const out = await this.#client
        .send(command, { abortSignal: options.signal })
        .catch((error: unknown) => {
          throw s3Error(error, `cannot list '${prefix}' in ${this.name}`, options.signal)
        })
      for (const item of out.Contents ?? []) {
        if (item.Key === undefined) continue
        yield { key: item.Key.slice(this.#prefix.length), size: item.Size ?? 0, modified: item.LastModified }
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined
      if (out.IsTruncated && token === undefined) {
        throw new StorageError(
          'CORRUPT_RESPONSE',
          `listing '${prefix}' in ${this.name}: truncated without a token`,
        )
      }
    } while (token !== undefined)
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    if (this.#versioned) return deleteVersions(this.#lockTarget(), this.#key(key), options)
    const command = new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) })
    try {
      await this.#client.send(command, { abortSignal: options.signal })
    } catch (error) {
      const mapped = s3Error(error, `cannot delete '${key}' from ${this.name}`, options.signal)
      if (!isNotFound(mapped)) throw mapped
    }
  }

  /**
   * Finds out whether the server really enforces `If-None-Match: *` (some accept and ignore it):
   * creates a probe object twice and expects the second put to fail. Updates `capabilities`.
   */
  async probeConditionalCreate(options: CallOptions = {}): Promise<boolean> {
    const key = `.strata-probe-${randomBytes(8).toString('hex')}`
    const put = (): Promise<unknown> =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          Body: 'probe',
          IfNoneMatch: '*',
        }),
        { abortSignal: options.signal },
      )
    let supported: boolean
    try {
      const first = await put().then(
        () => true,
        (error: unknown) => {
          // A server that rejects the header outright (400, 501) does not support it.
          const mapped = s3Error(error, `probing ${this.name}`, options.signal)
          const missingBucket = mapped instanceof StorageError && mapped.details.s3Code === 'NoSuchBucket'
          if (mapped instanceof StorageError && mapped.code === 'STORE_FAILED' && !missingBucket) return false
          throw mapped
        },
      )
      supported =
        first &&
        (await put().then(
          () => false,
          (error: unknown) => {
            const mapped = s3Error(error, `probing ${this.name}`, options.signal)
            if (mapped instanceof StorageError && mapped.code === 'ALREADY_EXISTS') return true
            if (mapped instanceof StorageError && mapped.details.permanent === true) return false
            throw mapped
          },
        ))
    } catch (error) {
      throw s3Error(error, `cannot probe conditional writes on ${this.name}`, options.signal)
    } finally {
      await this.delete(key).catch(() => undefined)
    }
    this.#capabilities = { ...this.#capabilities, conditionalCreate: supported }
    return supported
  }

  async removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    try {
      return await abortOldUploads(this.#client, this.#bucket, this.#prefix, olderThanMs, options.signal)
    } catch (error) {
      throw s3Error(error, `cannot abort unfinished uploads in ${this.name}`, options.signal)
    }
  }

  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    const uploads = listOldUploads(this.#client, this.#bucket, this.#prefix, olderThanMs, options.signal)
    try {
      for await (const { Key, UploadId, Initiated } of uploads) {
        yield { name: `${Key.slice(this.#prefix.length)} (upload ${UploadId})`, started: Initiated }
      }
    } catch (error) {
      throw s3Error(error, `cannot list unfinished uploads in ${this.name}`, options.signal)
    }
  }

  async close(): Promise<void> {
    this.#client.destroy()
  }

  #lockTarget(): LockTarget {
    return { client: this.#client, bucket: this.#bucket, name: this.name }
  }

  #key(key: string): string {
    assertValidKey(key)
    return this.#prefix + key
  }

  #notFoundOr(error: unknown, key: string, what: string, signal: AbortSignal | undefined) {
    const mapped = s3Error(error, what, signal)
    return isNotFound(mapped) ? this.#notFound(key, error) : mapped
  }

  #notFound(key: string, cause?: unknown): StorageError {
    return new StorageError('NOT_FOUND', `object '${key}' not found in ${this.name}`, { cause })
  }

  #exists(key: string, cause?: unknown): StorageError {
    return new StorageError('ALREADY_EXISTS', `object '${key}' already exists in ${this.name}`, { cause })
  }
}
