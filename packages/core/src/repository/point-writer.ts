// Writes a restore point: opens a session (which protects the base), hands out disk writers, then commits
// in the normative order: chunks (already stored by the disk writers) → disk indexes → index entry →
// manifest.
import { randomBytes } from 'node:crypto'
import { isZero } from '../shared/index.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { BackupSession, DEFAULT_TIMING, type SessionTiming } from './session.js'
import { ChunkUploader } from './chunk-uploader.js'
import { DiskWriter, type DiskStats } from './disk-writer.js'
import { readDiskIndex, readManifest } from './points.js'
import { putPointEntry } from './point-index.js'
import { extendRetentions } from './immutability.js'
import { ID_LENGTH, KIND_INDEX, KIND_MANIFEST } from './format/constants.js'
import { encodeDiskIndex, indexChecksum, type DiskIndex } from './format/disk-index.js'
import { encodeManifest, type DiskRole, type Manifest, type ManifestDisk } from './format/manifest.js'
import {
  chunkKey,
  diskIndexKey,
  formatPointRef,
  makePointId,
  manifestKey,
  pointTime,
  type PointRef,
} from './format/layout.js'

export interface PointOptions {
  readonly vm: string
  /** Free-form, JSON-able VM description (enough to rebuild the VM elsewhere). */
  readonly metadata?: unknown
  readonly tags?: readonly string[]
  readonly jobId?: string
  readonly scheduleId?: string
  /**
   * When the point was taken (its id and `startedAt`): an import gives the source's date. Default: now.
   */
  readonly time?: Date
  /** A previous point whose disk indexes the new disks start from. */
  readonly base?: PointRef
  readonly timing?: SessionTiming
  /** Chunks hashed, compressed, sealed and uploaded at once per disk. */
  readonly concurrency?: number
  /**
   * A copy of a point from another repository (a mirror): the same point id and times, so that the
   * copy is recognised as one (its manifest exists) and sorts where the original does.
   */
  readonly copyOf?: { readonly pointId: string; readonly startedAt: string; readonly finishedAt: string }
  /** Where warnings go (a GC record that cannot be right); default: process.emitWarning. */
  readonly onWarning?: (message: string) => void
  readonly signal?: AbortSignal
}

export interface CommittedPoint extends PointRef {
  readonly ref: string
  readonly manifest: Manifest
  readonly stats: readonly DiskStats[]
  /**
   * Immutable repositories: the extension of the chunks it shares, running in the background; resolves
   * to how many were extended (a failure goes to `onWarning` and resolves 0). Await it before exiting.
   */
  readonly retention?: Promise<number>
}

export class PointWriter {
  readonly #disks: { name: string; writer: DiskWriter; role: DiskRole | undefined }[] = []
  readonly #started: Date
  readonly uploader: ChunkUploader
  #fromBase = false

  private constructor(
    readonly repo: Repository,
    readonly ref: PointRef,
    readonly options: PointOptions,
    readonly session: BackupSession,
    readonly base: { manifest: Manifest; indexes: DiskIndex[] } | undefined,
    readonly bad: ReadonlySet<string>,
  ) {
    this.#started = options.time ?? new Date()
    this.uploader = new ChunkUploader(repo, session, options.signal)
  }

  static async begin(repo: Repository, options: PointOptions): Promise<PointWriter> {
    const { signal } = options
    const time = options.time ?? new Date()
    if (Number.isNaN(time.getTime()))
      throw new RepositoryError('INVALID_ARGUMENT', 'point time is not a date')
    const pointId = options.copyOf?.pointId ?? makePointId(time, randomBytes(4))
    if (pointTime(pointId) === undefined)
      throw new RepositoryError('INVALID_ARGUMENT', `'${pointId}' is not a restore point id`)
    const ref = { vm: options.vm, pointId }
    const baseManifest = options.base && (await readManifest(repo, options.base, signal))
    const bases = baseManifest?.disks.map((d) => d.index) ?? []
    const session = await BackupSession.open(
      repo,
      ref.vm,
      ref.pointId,
      bases,
      options.timing ?? DEFAULT_TIMING,
      signal,
      options.onWarning,
    )
    try {
      let base: PointWriter['base']
      if (options.base && baseManifest) {
        // Read after the session is published and sweeps have settled: the base is now protected, and
        // its manifest still existing proves that no GC deleted its chunks before.
        await readManifest(repo, options.base, signal)
        const indexes = await Promise.all(
          baseManifest.disks.map((d) => readDiskIndex(repo, d.index, signal)),
        ).catch(async (error: unknown) => {
          await readManifest(repo, options.base!, signal) // forgotten meanwhile: POINT_NOT_FOUND
          throw error
        })
        indexes.forEach((index, i) => checkBase(repo, index, baseManifest.disks[i]!))
        base = { manifest: baseManifest, indexes }
      }
      return new PointWriter(repo, ref, options, session, base, await repo.listBad(signal))
    } catch (error) {
      await session.close().catch(() => undefined)
      throw error
    }
  }

  /**
   * A writer for the next disk; with a base point, disk n starts from the base's disk n (or `baseDisk`).
   * `role`: what the disk is when it is not one of the VM's disks (the manifest records it).
   */
  openDisk(
    name: string,
    size: number,
    baseDisk: number | undefined = this.#disks.length,
    role?: DiskRole,
  ): DiskWriter {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new RepositoryError('INVALID_ARGUMENT', `disk size ${size}`)
    const baseIndex = this.base?.indexes[baseDisk]
    if (baseIndex !== undefined) this.#fromBase = true
    const writer = new DiskWriter(
      this.repo,
      this.uploader,
      name,
      size,
      baseIndex,
      this.bad,
      this.options.concurrency,
    )
    this.#disks.push({ name, writer, role })
    return writer
  }

  /**
   * `full`: whether the caller read the whole disks, as the manifest records it; by default, whether no
   * disk started from a base index.
   */
  async commit(options: { full?: boolean } = {}): Promise<CommittedPoint> {
    const { signal } = this.options
    const disks: ManifestDisk[] = []
    const stats: DiskStats[] = []
    // Chunks stored beside a GC sweep must have survived it before anything refers to them.
    for (const { writer } of this.#disks.values()) await writer.verifyCreated(signal)
    this.session.assertAlive()
    for (const [n, { name, writer, role }] of this.#disks.entries()) {
      const done = writer.finish()
      const key = diskIndexKey(this.ref, n)
      const bytes = this.repo.encode(KIND_INDEX, encodeDiskIndex(done.index), new TextEncoder().encode(key))
      await this.repo.putPointObject(key, bytes, signal)
      const { nonZeroChunks, newChunks, newBytes } = done.stats
      disks.push({
        name,
        size: writer.size,
        chunkSize: this.repo.chunkSize,
        index: key,
        indexChecksum: Buffer.from(done.checksum).toString('hex'),
        nonZeroChunks,
        newChunks,
        newBytes,
        ...(role === undefined ? {} : { role }),
      })
      stats.push(done.stats)
    }
    const manifest: Manifest = {
      version: 1,
      pointId: this.ref.pointId,
      vm: { id: this.ref.vm, metadata: this.options.metadata ?? null },
      disks,
      tags: [...(this.options.tags ?? [])],
      jobId: this.options.jobId,
      scheduleId: this.options.scheduleId,
      full: options.full ?? !this.#fromBase,
      startedAt: this.options.copyOf?.startedAt ?? this.#started.toISOString(),
      finishedAt: this.options.copyOf?.finishedAt ?? new Date().toISOString(),
    }
    const key = manifestKey(this.ref)
    // The index entry before the commit: every manifest has one, so that listings of the index miss no
    // point; an entry whose manifest never comes is never listed (docs/repository-format.md).
    await putPointEntry(this.repo, this.ref, signal)
    this.session.assertAlive() // a lapsed lease means GC may have ignored us: do not commit
    await this.repo.putPointObject(
      key,
      this.repo.encode(KIND_MANIFEST, encodeManifest(manifest), new TextEncoder().encode(key)),
      signal,
    )
    // Committed: the chunks verify had marked bad are whole again, and referenced. A failure to clean up
    // only leaves a marker (the next backup stores the chunk once more) or the session (it expires).
    for (const hex of this.uploader.fresh) await this.repo.clearBad(hex, signal).catch(() => undefined)
    await this.session.close(signal).catch(() => undefined)
    const retention = this.#extendShared(signal)
    return { ...this.ref, ref: formatPointRef(this.ref), manifest, stats, retention }
  }

  /**
   * Immutable repositories: every chunk the point refers to is retained at least as long as its manifest,
   * so that the point stays complete until its own date. Runs after the commit, in the background
   * (bounded requests); the backup's caller may await it. A failure there leaves the point committed and
   * its older chunks with their older dates: the next backup, or `repo gc`, extends them again.
   */
  #extendShared(signal?: AbortSignal): Promise<number> | undefined {
    const retention = this.repo.retention()
    if (retention === undefined) return undefined
    const keys = new Set<string>()
    for (const { writer } of this.#disks) {
      for (let at = 0; at < writer.ids.length; at += ID_LENGTH) {
        const id = writer.ids.subarray(at, at + ID_LENGTH)
        if (!isZero(id)) keys.add(chunkKey(Buffer.from(id).toString('hex'))) // all zeros: a hole
      }
    }
    const warn = this.options.onWarning ?? ((m: string) => process.emitWarning(m))
    return extendRetentions(this.repo.store, keys, retention, signal).catch((error: unknown) => {
      warn(
        `restore point ${formatPointRef(this.ref)}: shared chunks not all retained as long: ${String(error)}`,
      )
      return 0
    })
  }

  /** Gives up: nothing is committed; chunks already stored are left for GC. */
  async abort(): Promise<void> {
    await this.uploader.settle().catch(() => undefined) // no borrow segment lands after the close
    await this.session.close()
  }
}

function checkBase(repo: Repository, index: DiskIndex, disk: ManifestDisk): void {
  const sum = Buffer.from(indexChecksum(index.ids)).toString('hex')
  if (sum !== disk.indexChecksum) {
    throw new RepositoryError(
      'BASE_MISMATCH',
      `index '${disk.index}' in repository '${repo.name}' does not match its manifest`,
    )
  }
}
