// Retries store calls with backoff and jitter (shared/retry.ts). Reads retry transient failures and
// corrupt answers. Writes retry on any failure that is not clearly permanent, as XO does on S3, because
// providers disagree on error codes: a lost write costs a backup, a repeated create-once write is safe.
import { retry, StrataError } from '../shared/index.js'
import type {
  ListOptions,
  CallOptions,
  Leftover,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  RangeOptions,
} from './object-store.js'
import { StorageError, checkNotAfter } from './storage-error.js'

export interface RetryEvent {
  readonly op: string
  readonly key: string
  readonly attempt: number
  readonly delayMs: number
  readonly error: unknown
}

export interface RetryingStoreOptions {
  /** Attempts after the first (default 5). */
  readonly retries?: number
  readonly baseDelayMs?: number
  readonly maxDelayMs?: number
  readonly onRetry?: (event: RetryEvent) => void
  readonly random?: () => number
}

const NEVER = new Set([
  'ACCESS_DENIED',
  'INVALID_KEY',
  'INVALID_LOCATION',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'SYMLINK_REFUSED',
  'DEADLINE_PASSED',
])

export function shouldRetryRead(error: unknown): boolean {
  return error instanceof StorageError && (error.retryable || error.code === 'CORRUPT_RESPONSE')
}

export function shouldRetryWrite(error: unknown): boolean {
  if (!(error instanceof StrataError) || error.code === 'ABORTED') return false
  if (error.retryable) return true
  return error instanceof StorageError && !NEVER.has(error.code) && error.details.permanent !== true
}

export class RetryingStore implements ObjectStore {
  readonly name: string

  constructor(
    readonly inner: ObjectStore,
    readonly options: RetryingStoreOptions = {},
  ) {
    this.name = inner.name
  }

  get capabilities() {
    return this.inner.capabilities
  }

  /** Passed through as it is: its calls are rare (opening, maintenance) and each one says what failed. */
  get objectLock() {
    return this.inner.objectLock
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    let failedBefore = false
    await this.#retry('put', key, options, shouldRetryWrite, async () => {
      try {
        await this.inner.put(key, data, options)
      } catch (error) {
        // A create-only put whose earlier attempt failed may have landed anyway (the answer was lost):
        // if the stored bytes are ours, that attempt succeeded.
        if (failedBefore && options.ifNoneMatch && isExists(error) && (await this.#holds(key, data, options)))
          return
        failedBefore = true
        throw error
      }
    })
  }

  get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    return this.#retry('get', key, options, shouldRetryRead, () => this.inner.get(key, options))
  }

  getRange(key: string, offset: number, length: number, options: RangeOptions = {}): Promise<Uint8Array> {
    const read = () => this.inner.getRange(key, offset, length, options)
    return this.#retry('getRange', key, options, shouldRetryRead, read)
  }

  stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    return this.#retry('stat', key, options, shouldRetryRead, () => this.inner.stat(key, options))
  }

  /**
   * A failed page restarts the listing after the last key already returned. Objects that come without
   * error take no retry machinery (a listing of 10,000 names is 10,000 steps).
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]()
    let last: string | undefined
    try {
      for (;;) {
        let next: IteratorResult<ObjectInfo>
        try {
          checkNotAfter('list', prefix, options)
          next = await iterator.next()
        } catch (failure) {
          next = await this.#retry('list', prefix, options, shouldRetryRead, async (attempt) => {
            if (attempt === 0) throw failure // the step that failed, judged like any attempt
            iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]()
            for (;;) {
              const result = await iterator.next()
              if (result.done || last === undefined || keyOrder(result.value.key, last) > 0) return result
            }
          })
        }
        if (next.done) return
        last = next.value.key
        yield next.value
      }
    } finally {
      await iterator.return?.()
    }
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.#retry('delete', key, options, shouldRetryWrite, () => this.inner.delete(key, options))
  }

  async removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    const remove = async () => (await this.inner.removeIncomplete?.(olderThanMs, options)) ?? 0
    return this.#retry('removeIncomplete', '', options, shouldRetryWrite, remove)
  }

  /** Not retried: a listing of leftovers is a report, and the next gc lists them again. */
  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    if (this.inner.listIncomplete !== undefined) yield* this.inner.listIncomplete(olderThanMs, options)
  }

  async close(): Promise<void> {
    await this.inner.close?.()
  }

  async #holds(key: string, data: Uint8Array, options: CallOptions): Promise<boolean> {
    const stored = await this.get(key, options)
    return Buffer.from(stored.buffer, stored.byteOffset, stored.length).equals(data)
  }

  #retry<T>(
    op: string,
    key: string,
    options: CallOptions,
    shouldRetry: (error: unknown) => boolean,
    fn: (attempt: number) => Promise<T>,
  ): Promise<T> {
    const attempt = (n: number): Promise<T> => {
      checkNotAfter(op, key, options) // before every attempt, retries included
      return fn(n)
    }
    return retry(attempt, {
      retries: this.options.retries ?? 5,
      baseDelayMs: this.options.baseDelayMs ?? 200,
      maxDelayMs: this.options.maxDelayMs ?? 10_000,
      random: this.options.random,
      signal: options.signal,
      shouldRetry,
      onRetry: (error, attempt, delayMs) => this.options.onRetry?.({ op, key, attempt, delayMs, error }),
    })
  }
}

/** Key order as stores list: UTF-8 bytes (S3's order), not UTF-16 code units. */
export function keyOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

function isExists(error: unknown): boolean {
  return error instanceof StorageError && error.code === 'ALREADY_EXISTS'
}
