// Writes one disk of a restore point. Chunks arrive as (index, bytes) in any order and concurrently; the
// writer skips zeros, chunks unchanged from the base index and chunks already stored, and uploads the rest.
// Memory: the index (32 bytes per chunk) plus a small set of recently stored ids.
import { Semaphore, isZero } from '../shared/index.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { chunksMissing, type ChunkUploader } from './chunk-uploader.js'
import { ID_LENGTH } from './format/constants.js'
import { entryCount, indexChecksum, type DiskIndex } from './format/disk-index.js'

export interface DiskStats {
  readonly nonZeroChunks: number
  readonly newChunks: number
  readonly newBytes: number
  /** Chunks that were hashed but already stored (unchanged from base, or deduplicated). */
  readonly reusedChunks: number
}

const RECENT_LIMIT = 4096

export class DiskWriter {
  readonly chunkCount: number
  readonly ids: Uint8Array
  readonly #base: DiskIndex | undefined
  readonly #limit: Semaphore
  readonly #recent = new Set<string>()
  readonly #inflight = new Map<string, Promise<void>>()
  #newChunks = 0
  /**
   * Indexes (a bit each: memory stays flat) of chunks created while a GC sweep was in force (or checked
   * late), checked again at commit (see ChunkUploader).
   */
  readonly #atRisk: Uint8Array
  #atRiskCount = 0
  #newBytes = 0
  #reused = 0
  #finished = false

  constructor(
    readonly repo: Repository,
    readonly uploader: ChunkUploader,
    readonly name: string,
    readonly size: number,
    base: DiskIndex | undefined,
    readonly bad: ReadonlySet<string>,
    concurrency = 8,
  ) {
    this.chunkCount = entryCount(size, repo.chunkSize)
    this.ids = new Uint8Array(this.chunkCount * ID_LENGTH)
    this.#base = base
    if (base !== undefined) this.ids.set(base.ids.subarray(0, Math.min(base.ids.length, this.ids.length)))
    this.#limit = new Semaphore(concurrency)
    this.#atRisk = new Uint8Array(Math.ceil(this.chunkCount / 8))
  }

  /** Length in bytes of chunk `index` (the last one may be short). */
  chunkLength(index: number): number {
    return Math.min(this.repo.chunkSize, this.size - index * this.repo.chunkSize)
  }

  /**
   * Chunks the caller must supply even if unchanged: base chunks that verify marked bad (self-healing),
   * and a short last base chunk when the disk size changed.
   */
  needed(): number[] {
    const out: number[] = []
    const base = this.#base
    if (base === undefined) return out
    const shared = Math.min(base.ids.length, this.ids.length) / ID_LENGTH
    for (let i = 0; i < shared; i++) {
      const hex = Buffer.from(this.idAt(i)).toString('hex')
      if (this.bad.has(hex)) out.push(i)
    }
    const lastBase = entryCount(base.diskSize, base.chunkSize) - 1
    if (base.diskSize !== this.size && lastBase < this.chunkCount && !out.includes(lastBase))
      out.push(lastBase)
    return out
  }

  idAt(index: number): Uint8Array {
    return this.ids.subarray(index * ID_LENGTH, (index + 1) * ID_LENGTH)
  }

  /** Stores chunk `index`. `data` is not retained once the promise settles: callers may reuse it. */
  async putChunk(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.#finished)
      throw new RepositoryError('INVALID_ARGUMENT', `disk '${this.name}' is already finished`)
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new RepositoryError('INVALID_ARGUMENT', `chunk ${index} is outside disk '${this.name}'`)
    }
    if (data.length !== this.chunkLength(index)) {
      throw new RepositoryError(
        'INVALID_ARGUMENT',
        `chunk ${index} of disk '${this.name}' has ${data.length} bytes`,
      )
    }
    await this.#limit.run(() => this.#put(index, data, signal), signal)
  }

  /**
   * Sets chunk `index` to a chunk stored earlier (by an interrupted backup that is being resumed) without
   * its bytes, if the repository still holds it; the session protects it from then on. False: the caller
   * must supply the data with putChunk.
   */
  async adopt(index: number, id: Uint8Array, signal?: AbortSignal): Promise<boolean> {
    if (this.#finished || !Number.isInteger(index) || index < 0 || index >= this.chunkCount) return false
    if (id.length !== ID_LENGTH) return false
    if (isZero(id)) {
      this.idAt(index).fill(0)
      return true
    }
    const hex = Buffer.from(id).toString('hex')
    if (this.bad.has(hex) || !(await this.uploader.adopt(id, signal))) return false
    this.idAt(index).set(id)
    this.#reused++
    return true
  }

  async #put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (isZero(data)) {
      this.idAt(index).fill(0)
      return
    }
    // Hashed, then maybe stored: staged once in shared memory for both.
    const staged = this.repo.stageChunk(data)
    try {
      await this.#putStaged(index, staged.bytes, signal)
    } finally {
      staged.release()
    }
  }

  async #putStaged(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const slot = this.idAt(index)
    const id = await this.repo.chunkIdOf(data)
    const hex = id.toString('hex')
    const trusted = !this.bad.has(hex)
    if (trusted && this.#base !== undefined && index * ID_LENGTH < this.#base.ids.length && id.equals(slot)) {
      this.#reused++ // unchanged since the base, whose chunks the session protects
      return
    }
    if (trusted && this.#recent.has(hex)) {
      slot.set(id)
      this.#reused++
      return
    }
    const inflight = this.#inflight.get(hex)
    if (inflight !== undefined) {
      // The same content is being stored by a concurrent putChunk of this disk: share its outcome.
      await inflight
      this.#reused++
    } else {
      const storing = this.#store(index, id, data, trusted, signal)
      this.#inflight.set(hex, storing)
      try {
        await storing
      } finally {
        this.#inflight.delete(hex)
      }
    }
    this.#remember(hex)
    slot.set(id)
  }

  async #store(
    index: number,
    id: Buffer,
    data: Uint8Array,
    trusted: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    const onNoted = (): void => {
      this.#atRisk[index >> 3]! |= 1 << (index & 7)
      this.#atRiskCount++
    }
    const stored = await this.uploader.put(id, data, { fresh: !trusted, onNoted, signal })
    if (stored === 0) {
      this.#reused++ // it existed: another writer (or this one, on another disk) stored it
      return
    }
    this.#newChunks++
    this.#newBytes += stored
  }

  /**
   * Before commit: once the sweeps in force now have ended, every chunk noted at risk must still be
   * there. A missing one cannot be stored again (its bytes are gone): the backup fails, and a new run
   * (or a resume) reads it again.
   */
  async verifyCreated(signal?: AbortSignal): Promise<void> {
    await this.uploader.settle(signal) // every note is in
    if (this.#atRiskCount === 0) return
    const missing = await this.uploader.missing(this.#noted(), signal)
    if (missing.length > 0) throw chunksMissing(this.repo, this.name, missing)
    this.#atRisk.fill(0)
    this.#atRiskCount = 0
  }

  *#noted(): Generator<Uint8Array> {
    for (let i = 0; i < this.chunkCount; i++)
      if ((this.#atRisk[i >> 3]! & (1 << (i & 7))) !== 0) yield this.idAt(i)
  }

  #remember(hex: string): void {
    if (this.#recent.size >= RECENT_LIMIT) this.#recent.delete(this.#recent.values().next().value as string)
    this.#recent.add(hex)
  }

  /** Freezes the index. Call after every putChunk has settled. */
  finish(): { index: DiskIndex; checksum: Uint8Array; stats: DiskStats } {
    this.#finished = true
    let nonZero = 0
    for (let i = 0; i < this.chunkCount; i++) if (!isZero(this.idAt(i))) nonZero++
    return {
      index: { chunkSize: this.repo.chunkSize, diskSize: this.size, ids: this.ids },
      checksum: indexChecksum(this.ids),
      stats: {
        nonZeroChunks: nonZero,
        newChunks: this.#newChunks,
        newBytes: this.#newBytes,
        reusedChunks: this.#reused,
      },
    }
  }
}

export { isZero }
