// Bounds a store's concurrency (requests in flight) and throughput (bytes per second, each way).
// Placed under RetryingStore, so that a request waiting for its retry holds no slot.
import { Semaphore } from '../shared/index.js'
import type {
  CallOptions,
  Leftover,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  RangeOptions,
} from './object-store.js'
import { RateLimiter } from './rate-limiter.js'
import { checkNotAfter } from './storage-error.js'

export interface LimitedStoreOptions {
  /** Requests in flight at once (default 16). */
  readonly concurrency?: number
  readonly writeBytesPerSecond?: number
  readonly readBytesPerSecond?: number
}

export class LimitedStore implements ObjectStore {
  readonly name: string
  readonly #slots: Semaphore
  readonly #write: RateLimiter | undefined
  readonly #read: RateLimiter | undefined

  constructor(
    readonly inner: ObjectStore,
    options: LimitedStoreOptions = {},
  ) {
    this.name = inner.name
    this.#slots = new Semaphore(options.concurrency ?? 16)
    this.#write = options.writeBytesPerSecond ? new RateLimiter(options.writeBytesPerSecond) : undefined
    this.#read = options.readBytesPerSecond ? new RateLimiter(options.readBytesPerSecond) : undefined
  }

  get capabilities() {
    return this.inner.capabilities
  }

  /** Passed through as it is: its calls are rare (opening, maintenance) and each one says what failed. */
  get objectLock() {
    return this.inner.objectLock
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.#write?.take(data.length, options.signal)
    return this.#run('put', key, options, () => this.inner.put(key, data, options))
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    const data = await this.#run('get', key, options, () => this.inner.get(key, options))
    // The size is known only now: the debt slows down the next reads.
    this.#read?.reserve(data.length)
    return data
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    options: RangeOptions = {},
  ): Promise<Uint8Array> {
    await this.#read?.take(length, options.signal)
    return this.#run('getRange', key, options, () => this.inner.getRange(key, offset, length, options))
  }

  stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    return this.#run('stat', key, options, () => this.inner.stat(key, options))
  }

  /** Each step of the listing (a page fetch, for S3) takes a slot; the consumer's pauses hold none. */
  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ObjectInfo> {
    const iterator = this.inner.list(prefix, options)[Symbol.asyncIterator]()
    try {
      for (;;) {
        const next = await this.#slots.run(() => iterator.next(), options.signal)
        if (next.done) return
        yield next.value
      }
    } finally {
      await iterator.return?.()
    }
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.#run('delete', key, options, () => this.inner.delete(key, options))
  }

  /** A request may wait long for its slot: its deadline (`notAfter`) is checked once it has one. */
  #run<T>(op: string, key: string, options: CallOptions, fn: () => Promise<T>): Promise<T> {
    return this.#slots.run(() => (checkNotAfter(op, key, options), fn()), options.signal)
  }

  async removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    const remove = async () => (await this.inner.removeIncomplete?.(olderThanMs, options)) ?? 0
    return this.#slots.run(remove, options.signal)
  }

  /** Like list: each step takes a slot. */
  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    const iterator = this.inner.listIncomplete?.(olderThanMs, options)[Symbol.asyncIterator]()
    if (iterator === undefined) return
    try {
      for (;;) {
        const next = await this.#slots.run(() => iterator.next(), options.signal)
        if (next.done) return
        yield next.value
      }
    } finally {
      await iterator.return?.()
    }
  }

  async close(): Promise<void> {
    await this.inner.close?.()
  }
}
