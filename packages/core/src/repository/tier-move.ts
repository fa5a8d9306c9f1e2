// `strata repo tier move`: chunks that only old restore points reference go to the cold tier. Per chunk,
// in this order (docs/repository-format.md, "Cold tier"): copy to cold (create-only), read back and
// authenticate, write its locator `tiered/<hh>/<id>` in hot, delete the hot copy. Every step leaves the
// chunk readable: until the hot delete the hot copy serves, after it the verified cold one (reads fall
// back to cold on a hot miss). A SIGKILL anywhere leaves at worst a chunk in both tiers, which the next
// move finishes (its cold copy authenticates, the locator exists) or GC removes.
import { Semaphore } from '../shared/index.js'
import { isNotFound, StorageError, type ObjectStore } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import { isObjectLocked } from './immutability.js'
import { listSessions, isLive } from './gc-sessions.js'
import { markProtected } from './gc.js'
import { MarkSet } from './mark-set.js'
import { listPoints, readDiskIndex, readManifest, type PointSummary } from './points.js'
import type { Repository } from './repository.js'
import { DEFAULT_TIMING, fullTiming, type SessionTiming } from './session.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey, chunkKey } from './format/layout.js'
import { tieredKey } from './format/tier.js'
import { requireColdStore } from './tier.js'
import { promoteYoung } from './tier-promote.js'
import { TierError } from './tier-errors.js'

export interface TierMoveOptions {
  /** Hot chunks written less than this long ago stay (a running backup's new chunks); default 1 h. */
  readonly safetyMarginMs?: number
  readonly timing?: SessionTiming
  /** Chunks copied and verified at once (default 4). */
  readonly concurrency?: number
  readonly signal?: AbortSignal
}

export interface TierMoveResult {
  readonly points: number
  readonly oldPoints: number
  /** Chunks listed in the hot store. */
  readonly chunks: number
  readonly moved: number
  /** Stored bytes moved. */
  readonly bytesMoved: number
  /** Referenced by a young point or a running backup, or written within the margin: kept hot. */
  readonly keptHot: number
  /** Copied and verified, but the hot copy is retained by Object Lock: it goes at a later move. */
  readonly keptLocked: number
  /** Chunks young points reference that only cold held, copied back to hot (tier-promote.ts). */
  readonly promoted: number
  /** Chunks whose cold copy did not authenticate (hot copy kept): `TIER_VERIFY_FAILED`. */
  readonly failed: readonly { readonly id: string; readonly reason: string }[]
}

/** Sessions are read again every this many chunks moved: a backup started meanwhile is seen. */
const REMARK_EVERY = 256
const MAX_FAILURES_LISTED = 100

export async function moveToCold(repo: Repository, options: TierMoveOptions = {}): Promise<TierMoveResult> {
  const { signal } = options
  const cold = requireColdStore(repo)
  const { olderThanSeconds } = repo.cold!.tier
  const timing = fullTiming(options.timing ?? DEFAULT_TIMING)
  const start = Date.now()
  const live = [...(await listSessions(repo, signal)).values()].filter((s) =>
    isLive(s, timing.leaseMs, start),
  )
  const cutoff = Math.min(start, ...live.map((s) => (s.opened ?? s.newest).getTime())) - marginOf(options)
  const points = await listPoints(repo, undefined, signal)
  const policy = start - olderThanSeconds * 1000
  const old = points.filter((p) => p.time.getTime() < policy)
  const young = await markPoints(
    repo,
    points.filter((p) => p.time.getTime() >= policy),
    signal,
  )
  const referencedByOld = await markPoints(repo, old, signal)
  await markProtected(repo, young, timing, signal)
  const mover = new ChunkMover(repo, cold, options.concurrency ?? 4, signal)
  let keptHot = 0
  let chunks = 0
  for await (const info of repo.store.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    chunks++
    const id = Buffer.from(hex, 'hex')
    if (!referencedByOld.mayContain(id)) continue // garbage, or young points' only: GC or nothing
    if (young.mayContain(id) || (info.modified?.getTime() ?? Infinity) >= cutoff) {
      keptHot++
      continue
    }
    if (mover.started > 0 && mover.started % REMARK_EVERY === 0) {
      await mover.drain()
      await markProtected(repo, young, timing, signal)
      if (young.mayContain(id)) {
        keptHot++
        continue
      }
    }
    await mover.start(hex)
  }
  await mover.drain()
  const promoted = await promoteYoung(repo, young, signal)
  return { points: points.length, oldPoints: old.length, chunks, keptHot, promoted, ...mover.result() }
}

function marginOf(options: TierMoveOptions): number {
  const margin = options.safetyMarginMs ?? 3_600_000
  if (!(margin >= 0))
    throw new RepositoryError('INVALID_ARGUMENT', `tier move safety margin ${margin} ms is negative`)
  return margin
}

/** The chunks of these points' indexes; a point forgotten meanwhile is skipped. */
async function markPoints(repo: Repository, points: PointSummary[], signal?: AbortSignal): Promise<MarkSet> {
  const keys: string[] = []
  let expected = 0
  for (const point of points) {
    try {
      for (const disk of (await readManifest(repo, point, signal)).disks) {
        keys.push(disk.index)
        expected += Math.ceil(disk.size / disk.chunkSize)
      }
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'POINT_NOT_FOUND')) throw error
    }
  }
  const marks = new MarkSet(expected + 65_536)
  for (const key of keys) marks.addAll((await readDiskIndex(repo, key, signal)).ids)
  return marks
}

/** Moves chunks a few at a time; the first unexpected error stops the run (after those in flight). */
class ChunkMover {
  readonly #limit: Semaphore
  readonly #running = new Set<Promise<void>>()
  #error: unknown
  started = 0
  moved = 0
  bytesMoved = 0
  keptLocked = 0
  readonly failed: { id: string; reason: string }[] = []

  constructor(
    readonly repo: Repository,
    readonly cold: ObjectStore,
    concurrency: number,
    readonly signal?: AbortSignal,
  ) {
    this.#limit = new Semaphore(Math.max(1, concurrency))
  }

  async start(hex: string): Promise<void> {
    await this.#limit.acquire(this.signal)
    if (this.#error !== undefined) {
      this.#limit.release()
      throw this.#error
    }
    this.started++
    const one: Promise<void> = this.#move(hex)
      .catch((error: unknown) => void (this.#error ??= error))
      .finally(() => {
        this.#running.delete(one)
        this.#limit.release()
      })
    this.#running.add(one)
  }

  async drain(): Promise<void> {
    await Promise.all(this.#running)
    if (this.#error !== undefined) throw this.#error
  }

  result(): Pick<TierMoveResult, 'moved' | 'bytesMoved' | 'keptLocked' | 'failed'> {
    return {
      moved: this.moved,
      bytesMoved: this.bytesMoved,
      keptLocked: this.keptLocked,
      failed: this.failed,
    }
  }

  async #move(hex: string): Promise<void> {
    const { repo, cold, signal } = this
    const key = chunkKey(hex)
    let bytes: Uint8Array
    try {
      bytes = await repo.store.get(key, { signal })
    } catch (error) {
      if (isNotFound(error)) return // GC took it since the listing
      throw error
    }
    try {
      await copyVerified(repo, cold, hex, bytes, signal)
    } catch (error) {
      if (!(error instanceof TierError && error.code === 'TIER_VERIFY_FAILED')) throw error
      if (this.failed.length < MAX_FAILURES_LISTED) this.failed.push({ id: hex, reason: error.message })
      return
    }
    await putIfAbsent(repo.store, tieredKey(hex), new Uint8Array(0), signal)
    try {
      await repo.store.delete(key, { signal })
    } catch (error) {
      if (!isObjectLocked(error)) throw error
      this.keptLocked++
      return
    }
    this.moved++
    this.bytesMoved += bytes.length
  }
}

/**
 * Puts the chunk's bytes in cold (create-only) and reads them back through the repository's codec. A
 * copy already there that does not authenticate (damaged) is replaced once; a second failure is
 * TIER_VERIFY_FAILED and the hot copy stays.
 */
async function copyVerified(
  repo: Repository,
  cold: ObjectStore,
  hex: string,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  const key = chunkKey(hex)
  await putIfAbsent(cold, key, bytes, signal)
  if ((await coldProblem(repo, cold, hex, signal)) === undefined) return
  await cold.put(key, bytes, { signal })
  const problem = await coldProblem(repo, cold, hex, signal)
  if (problem !== undefined)
    throw new TierError(
      'TIER_VERIFY_FAILED',
      `${repo.describeChunk(hex)}: its copy in '${cold.name}' ${problem}`,
    )
}

/** Why the cold copy does not authenticate, or undefined if it does. */
async function coldProblem(
  repo: Repository,
  cold: ObjectStore,
  hex: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const stored = await cold.getRange(chunkKey(hex), 0, repo.storedChunkMax, { signal })
    await repo.decodeChunkInto(hex, stored, new Uint8Array(repo.chunkSize))
    return undefined
  } catch (error) {
    if (isNotFound(error)) return 'is missing after it was written'
    if (error instanceof Error && 'code' in error && error.code === 'CORRUPT_OBJECT')
      return `does not authenticate (${error.message})`
    throw error
  }
}

async function putIfAbsent(
  store: ObjectStore,
  key: string,
  bytes: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await store.put(key, bytes, { ifNoneMatch: true, signal })
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
  }
}
