// What the XO reader needs from where a remote lives: ranged reads (bounded by the caller), sizes,
// and one level of a directory. There is no write in this interface, and the ObjectStore adapter below
// hands its store only to a wrapper whose writes throw: Strata never writes to an XO remote. Paths are
// '/'-separated, relative to the remote's root ('xo-vm-backups/<vm>/<ts>.json').
import { errorCode, throwIfAborted } from '../shared/index.js'
import type { ObjectInfo, ObjectStore } from '../storage/index.js'
import { XoError } from './errors.js'

export interface RemoteEntry {
  readonly name: string
  readonly kind: 'file' | 'dir'
}

export interface RemoteFiles {
  /** For messages: "local:/mnt/xo" or "s3:bucket/prefix". Never credentials. */
  readonly name: string
  /** `length` bytes from `offset`, fewer only at the end of the file; XO_NOT_FOUND when absent. */
  readRange(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>
  /** The file's size, or undefined when there is no file at `path`. */
  size(path: string, signal?: AbortSignal): Promise<number | undefined>
  /** What `dir` holds, sorted by name; [] when it does not exist. */
  entries(dir: string, signal?: AbortSignal): Promise<RemoteEntry[]>
  close?(): Promise<void>
}

/** Any write or delete through this store fails with XO_READ_ONLY before reaching the store it wraps. */
export function readOnlyStore(store: ObjectStore): ObjectStore {
  const refuse = (what: string, key: string): Promise<never> =>
    Promise.reject(
      new XoError(
        'XO_READ_ONLY',
        `refused to ${what} '${key}' in ${store.name}: Strata never writes to an XO remote`,
      ),
    )
  return {
    name: store.name,
    capabilities: store.capabilities,
    put: (key: string) => refuse('write', key),
    delete: (key: string) => refuse('delete', key),
    removeIncomplete: () => refuse('clean up', '*'),
    get: (key, options) => store.get(key, options),
    getRange: (key, offset, length, options) => store.getRange(key, offset, length, options),
    stat: (key, options) => store.stat(key, options),
    list: (prefix, options) => store.list(prefix, options),
    close: async () => store.close?.(),
  }
}

/**
 * An XO remote in an object store (S3). Stores have no directories: the first listing under a
 * directory walks its keys once and remembers the tree, except the block files of VhdDirectories
 * (`<name>.vhd/blocks/…`), which can number millions and are never listed one by one.
 */
export function storeFiles(store: ObjectStore): RemoteFiles {
  return new StoreFiles(readOnlyStore(store))
}

class StoreFiles implements RemoteFiles {
  readonly name: string
  /** dir → its entries, for every directory under a walked prefix. */
  readonly #tree = new Map<string, Map<string, RemoteEntry>>()
  readonly #walked: string[] = []

  constructor(readonly store: ObjectStore) {
    this.name = store.name
  }

  async readRange(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.store.getRange(path, offset, length, { signal }).catch((error: unknown) => {
      throw this.#mapped(error, path)
    })
  }

  async size(path: string, signal?: AbortSignal): Promise<number | undefined> {
    return (await this.store.stat(path, { signal }))?.size
  }

  async entries(dir: string, signal?: AbortSignal): Promise<RemoteEntry[]> {
    throwIfAborted(signal)
    const clean = dir.replace(/\/+$/, '')
    if (!this.#walked.some((w) => w === '' || clean === w || clean.startsWith(`${w}/`))) {
      await this.#walk(clean, signal)
      this.#walked.push(clean)
    }
    const found = this.#tree.get(clean)
    return found === undefined ? [] : [...found.values()].sort((a, b) => compare(a.name, b.name))
  }

  async close(): Promise<void> {
    await this.store.close?.()
  }

  async #walk(dir: string, signal?: AbortSignal): Promise<void> {
    const prefix = dir === '' ? '' : `${dir}/`
    for await (const info of this.store.list(prefix, { signal }) as AsyncIterable<ObjectInfo>) {
      const parts = info.key.split('/')
      for (let i = dir === '' ? 0 : dir.split('/').length; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/')
        const kind = i === parts.length - 1 ? 'file' : 'dir'
        let children = this.#tree.get(parent)
        if (children === undefined) this.#tree.set(parent, (children = new Map()))
        if (!children.has(parts[i]!)) children.set(parts[i]!, { name: parts[i]!, kind })
        // Below a VhdDirectory's blocks/ lie only block files: known by their BAT, never listed.
        if (kind === 'dir' && parts[i] === 'blocks' && parts[i - 1]?.endsWith('.vhd')) break
      }
    }
  }

  #mapped(error: unknown, path: string): unknown {
    if (errorCode(error) !== 'NOT_FOUND') return error
    return new XoError('XO_NOT_FOUND', `'${path}' is missing from ${this.name}`, { cause: error })
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
