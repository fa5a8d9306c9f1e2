// A store on a share Strata mounted: the local store in the mount, with the mount checked before every
// call (a share unmounted under Strata fails the call instead of letting it write to the empty
// directory below) and released when the store closes (the last open unmounts: nas-mount.ts).
import type {
  CallOptions,
  Leftover,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  RangeOptions,
} from '../object-store.js'
import type { NasMount } from './nas-mount.js'

export class NasStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly mount: NasMount,
    /** The location (nfs://… or smb://…), with no secret in it. */
    readonly name: string,
  ) {}

  get capabilities() {
    return this.inner.capabilities
  }

  get mountPoint(): string {
    return this.mount.mountPoint
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.mount.check(options.signal)
    return this.inner.put(key, data, options)
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    await this.mount.check(options.signal)
    return this.inner.get(key, options)
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    options: RangeOptions = {},
  ): Promise<Uint8Array> {
    await this.mount.check(options.signal)
    return this.inner.getRange(key, offset, length, options)
  }

  async stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    await this.mount.check(options.signal)
    return this.inner.stat(key, options)
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ObjectInfo> {
    await this.mount.check(options.signal)
    yield* this.inner.list(prefix, options)
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    await this.mount.check(options.signal)
    return this.inner.delete(key, options)
  }

  async removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    await this.mount.check(options.signal)
    return (await this.inner.removeIncomplete?.(olderThanMs, options)) ?? 0
  }

  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    await this.mount.check(options.signal)
    if (this.inner.listIncomplete !== undefined) yield* this.inner.listIncomplete(olderThanMs, options)
  }

  async close(): Promise<void> {
    try {
      await this.inner.close?.()
    } finally {
      await this.mount.release()
    }
  }
}
