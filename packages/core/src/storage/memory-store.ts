// An in-memory store: for unit tests and for composing tests of the layers above storage.
import { throwIfAborted } from '../shared/index.js'
import type { CallOptions, ObjectInfo, ObjectStore, PutOptions, RangeOptions } from './object-store.js'
import { StorageError, assertValidKey } from './storage-error.js'

interface Entry {
  data: Uint8Array
  modified: Date
}

export class MemoryStore implements ObjectStore {
  readonly capabilities = { conditionalCreate: true, listAfterWriteConsistent: true }
  readonly #objects = new Map<string, Entry>()

  constructor(readonly name = 'memory') {}

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    assertValidKey(key)
    throwIfAborted(options.signal)
    if (options.ifNoneMatch && this.#objects.has(key)) {
      throw new StorageError('ALREADY_EXISTS', `object '${key}' already exists in ${this.name}`)
    }
    // A plain Uint8Array copy: a Buffer's slice() would hand out views of the stored bytes.
    this.#objects.set(key, { data: new Uint8Array(data), modified: new Date() })
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    assertValidKey(key)
    throwIfAborted(options.signal)
    return this.#entry(key).data.slice()
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    options: RangeOptions = {},
  ): Promise<Uint8Array> {
    assertValidKey(key)
    throwIfAborted(options.signal)
    const bytes = this.#entry(key).data.subarray(offset, offset + length)
    const { into } = options
    if (into === undefined || into.length < length) return bytes.slice()
    into.set(bytes)
    return into.subarray(0, bytes.length)
  }

  async stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    assertValidKey(key)
    throwIfAborted(options.signal)
    const entry = this.#objects.get(key)
    return entry && { key, size: entry.data.length, modified: entry.modified }
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ObjectInfo> {
    // UTF-8 byte order, as S3 lists (default sort() would use UTF-16 code units).
    const keys = [...this.#objects.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    for (const key of keys) {
      throwIfAborted(options.signal)
      const entry = this.#objects.get(key)
      if (entry) yield { key, size: entry.data.length, modified: entry.modified }
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    assertValidKey(key)
    throwIfAborted(options.signal)
    this.#objects.delete(key)
  }

  #entry(key: string): Entry {
    const entry = this.#objects.get(key)
    if (entry === undefined) throw new StorageError('NOT_FOUND', `object '${key}' not found in ${this.name}`)
    return entry
  }
}
