// Reports every store call (operation, key, bytes, duration, error code) to a logger. Answers such as
// NOT_FOUND and ALREADY_EXISTS are 'debug'; failures are 'warn'. Store names never hold credentials.
import { errorCode, errorMessage } from '../shared/index.js'
import type {
  CallOptions,
  Leftover,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  RangeOptions,
} from './object-store.js'

export interface StoreLogEvent {
  readonly level: 'debug' | 'warn'
  readonly store: string
  readonly op: string
  readonly key: string
  readonly bytes?: number
  /** Objects returned by a listing. */
  readonly count?: number
  readonly ms?: number
  /** Set on retries: the attempt about to be made and the wait before it. */
  readonly attempt?: number
  readonly delayMs?: number
  readonly error?: { readonly code: string; readonly message: string }
}

export type StoreLogger = (event: StoreLogEvent) => void

const ANSWERS = new Set(['NOT_FOUND', 'ALREADY_EXISTS'])

export class LoggingStore implements ObjectStore {
  readonly name: string

  constructor(
    readonly inner: ObjectStore,
    readonly logger: StoreLogger,
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

  put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    return this.#log(
      'put',
      key,
      () => this.inner.put(key, data, options),
      () => data.length,
    )
  }

  get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    return this.#log(
      'get',
      key,
      () => this.inner.get(key, options),
      (d) => d.length,
    )
  }

  getRange(key: string, offset: number, length: number, options: RangeOptions = {}): Promise<Uint8Array> {
    const read = () => this.inner.getRange(key, offset, length, options)
    return this.#log('getRange', key, read, (d) => d.length)
  }

  stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    return this.#log('stat', key, () => this.inner.stat(key, options))
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ObjectInfo> {
    const start = performance.now()
    let count = 0
    try {
      for await (const info of this.inner.list(prefix, options)) {
        count++
        yield info
      }
      this.#emit('debug', 'list', prefix, start, undefined, undefined, count)
    } catch (error) {
      this.#emit('warn', 'list', prefix, start, undefined, error, count)
      throw error
    }
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.#log('delete', key, () => this.inner.delete(key, options))
  }

  removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    const remove = async () => (await this.inner.removeIncomplete?.(olderThanMs, options)) ?? 0
    return this.#log('removeIncomplete', '', remove)
  }

  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    if (this.inner.listIncomplete === undefined) return
    const start = performance.now()
    let count = 0
    try {
      for await (const leftover of this.inner.listIncomplete(olderThanMs, options)) {
        count++
        yield leftover
      }
      this.#emit('debug', 'listIncomplete', '', start, undefined, undefined, count)
    } catch (error) {
      this.#emit('warn', 'listIncomplete', '', start, undefined, error, count)
      throw error
    }
  }

  async close(): Promise<void> {
    await this.inner.close?.()
  }

  async #log<T>(op: string, key: string, fn: () => Promise<T>, size?: (value: T) => number): Promise<T> {
    const start = performance.now()
    try {
      const value = await fn()
      this.#emit('debug', op, key, start, size?.(value))
      return value
    } catch (error) {
      this.#emit(ANSWERS.has(errorCode(error)) ? 'debug' : 'warn', op, key, start, undefined, error)
      throw error
    }
  }

  #emit(
    level: 'debug' | 'warn',
    op: string,
    key: string,
    start: number,
    bytes?: number,
    error?: unknown,
    count?: number,
  ): void {
    const ms = Math.round(performance.now() - start)
    const failure = error === undefined ? undefined : { code: errorCode(error), message: errorMessage(error) }
    this.logger({ level, store: this.name, op, key, bytes, count, ms, error: failure })
  }
}
