// Helpers for the repository's own tests: synthetic disks, backups through the public writer API, restores,
// and a store that delays every call at random so that concurrent operations really interleave.
import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryStore } from '../../storage/index.js'
import type { CallOptions, ObjectInfo, ObjectStore, PutOptions } from '../../storage/index.js'
import type { Repository } from '../repository.js'
import { PointWriter, type CommittedPoint, type PointOptions } from '../point-writer.js'
import { DiskReader } from '../disk-reader.js'
import type { PointRef } from '../format/layout.js'

/** `n` chunks of `chunk` bytes (zeros, random, a repeated block) and a short random tail. */
export function makeDisk(n: number, chunk: number, tail = 1000): Buffer {
  const repeated = randomBytes(chunk)
  const parts: Buffer[] = []
  for (let i = 0; i < n; i++) {
    parts.push(i % 3 === 0 ? Buffer.alloc(chunk) : i % 3 === 1 ? randomBytes(chunk) : repeated)
  }
  parts.push(randomBytes(tail))
  return Buffer.concat(parts)
}

export async function backupDisk(
  repo: Repository,
  disk: Buffer,
  options: Partial<PointOptions> & { only?: number[] } = {},
): Promise<CommittedPoint> {
  const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { name: 'web' }, ...options })
  try {
    const writer = point.openDisk('xvda', disk.length)
    const size = repo.chunkSize
    const indexes = options.only ?? Array.from({ length: writer.chunkCount }, (_, i) => i)
    await Promise.all(
      [...new Set([...indexes, ...writer.needed()])]
        .reverse()
        .map((i) => writer.putChunk(i, disk.subarray(i * size, i * size + writer.chunkLength(i)))),
    )
    return await point.commit()
  } catch (error) {
    await point.abort()
    throw error
  }
}

export async function restoreDisk(repo: Repository, ref: PointRef): Promise<Buffer> {
  const reader = await DiskReader.open(repo, ref)
  const out = Buffer.alloc(reader.size)
  await Promise.all(
    Array.from({ length: reader.chunkCount }, async (_, i) =>
      out.set(await reader.readChunk(i), i * reader.chunkSize),
    ),
  )
  return out
}

/** Wraps a store and delays each call by 0..maxMs so that concurrent callers interleave differently each run. */
export class JitterStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    readonly maxMs = 2,
  ) {}
  get name(): string {
    return this.inner.name
  }
  get capabilities(): ObjectStore['capabilities'] {
    return this.inner.capabilities
  }
  #pause(): Promise<void> {
    return new Promise((r) => setTimeout(r, Math.random() * this.maxMs))
  }
  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    await this.#pause()
    return this.inner.put(key, data, options)
  }
  async get(key: string, options?: CallOptions): Promise<Uint8Array> {
    await this.#pause()
    return this.inner.get(key, options)
  }
  async getRange(key: string, offset: number, length: number, options?: CallOptions): Promise<Uint8Array> {
    await this.#pause()
    return this.inner.getRange(key, offset, length, options)
  }
  async stat(key: string, options?: CallOptions): Promise<ObjectInfo | undefined> {
    await this.#pause()
    return this.inner.stat(key, options)
  }
  async *list(prefix: string, options?: CallOptions): AsyncIterable<ObjectInfo> {
    for await (const info of this.inner.list(prefix, options)) {
      await this.#pause()
      yield info
    }
  }
  async delete(key: string, options?: CallOptions): Promise<void> {
    await this.#pause()
    return this.inner.delete(key, options)
  }
}

/** A golden fixture (fixtures/<name>) loaded into a MemoryStore, as a store would hold it. */
export async function loadFixture(name: string): Promise<MemoryStore> {
  const root = fileURLToPath(new URL(`../fixtures/${name}/`, import.meta.url))
  const store = new MemoryStore(name)
  for (const path of await readdir(root, { recursive: true })) {
    const bytes = await readFile(join(root, path)).catch(() => undefined) // directories read as undefined
    if (bytes !== undefined) await store.put(path.split(sep).join('/'), bytes)
  }
  return store
}
