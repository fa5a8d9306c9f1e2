// check: structural verification. Every manifest parses, every disk index exists, parses and matches its
// manifest, and every chunk an index references exists. Chunk contents are verify's job. Memory stays
// bounded: present chunk ids are loaded a window at a time (list order is id order), and the indexes are
// re-read once per window.
import { throwIfAborted } from '../shared/index.js'
import type { Repository } from './repository.js'
import { readDiskIndex, readManifest, walkPoints } from './points.js'
import { checkPointIndex, type IndexCheckResult } from './point-index-check.js'
import { listedManifest } from './format/point-index.js'
import type { Manifest } from './format/manifest.js'
import { ID_LENGTH, PREFIX_CHUNKS } from './format/constants.js'
import { chunkIdOfKey, formatPointRef } from './format/layout.js'
import { indexChecksum } from './format/disk-index.js'
import { errorMessage } from '../shared/index.js'
import { coldChunkIds, type ColdIds } from './tier-check.js'

export interface CheckProblem {
  readonly object: string
  readonly problem: string
}

export interface CheckResult {
  readonly ok: boolean
  readonly points: number
  readonly indexes: number
  readonly chunks: number
  /** Chunks in the cold tier (docs/repository-format.md, "Cold tier"); absent without one. */
  readonly coldChunks?: number
  /**
   * The point index against the points: its problems are among `problems`, or, repaired, in `fixed`.
   */
  readonly pointIndex: Omit<IndexCheckResult, 'problems'> & { readonly fixed?: readonly CheckProblem[] }
  readonly problems: readonly CheckProblem[]
}

export interface CheckOptions {
  /** Memory for present ids per window (default 64 MiB = 2M chunks = 4 TiB of 2 MiB chunks). */
  readonly windowBytes?: number
  readonly signal?: AbortSignal
  /** Stop listing problems after this many (default 1000). */
  readonly maxProblems?: number
  /** Fix the point index (docs/repository-format.md, "Point index"), or build it where there is none. */
  readonly repairIndex?: boolean
  /** The clock (ms) that tells leftover index entries from those of backups about to commit. */
  readonly now?: number
}

export async function checkRepository(repo: Repository, options: CheckOptions = {}): Promise<CheckResult> {
  const { signal } = options
  const problems: CheckProblem[] = []
  const report = (object: string, problem: string): void => {
    if (problems.length < (options.maxProblems ?? 1000)) problems.push({ object, problem })
  }
  const indexes: { key: string; point: string }[] = []
  // The points themselves, not the index: the index is checked against them.
  const points = await walkPoints(repo, undefined, signal)
  const manifests = new Map<string, Manifest>()
  for (const point of points) {
    try {
      const manifest = await readManifest(repo, point, signal)
      manifests.set(point.ref, listedManifest(manifest))
      for (const disk of manifest.disks) {
        try {
          const index = await readDiskIndex(repo, disk.index, signal)
          if (
            Buffer.from(indexChecksum(index.ids)).toString('hex') !== disk.indexChecksum ||
            index.diskSize !== disk.size
          ) {
            report(disk.index, `does not match the manifest of '${point.ref}'`)
          } else indexes.push({ key: disk.index, point: point.ref })
        } catch (error) {
          report(disk.index, errorMessage(error))
        }
      }
    } catch (error) {
      report(formatPointRef(point), errorMessage(error))
    }
  }
  const { problems: found, ...indexed } = await checkPointIndex(repo, points, {
    repair: options.repairIndex,
    manifests,
    now: options.now,
    signal,
  })
  if (options.repairIndex !== true) for (const p of found) report(p.object, p.problem)
  const pointIndex = options.repairIndex === true ? { ...indexed, fixed: found } : indexed
  const cold = await coldChunkIds(repo, signal)
  const chunks = await checkChunksExist(
    repo,
    { indexes, cold },
    options.windowBytes ?? 64 * 1024 * 1024,
    report,
    signal,
  )
  const coldChunks = cold && { coldChunks: cold.present.size }
  return {
    ok: problems.length === 0,
    points: points.length,
    indexes: indexes.length,
    chunks,
    ...coldChunks,
    pointIndex,
    problems,
  }
}

interface Referenced {
  readonly indexes: { key: string; point: string }[]
  readonly cold: ColdIds | undefined
}

async function checkChunksExist(
  repo: Repository,
  referenced: Referenced,
  windowBytes: number,
  report: (object: string, problem: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  const capacity = Math.max(1, Math.floor(windowBytes / ID_LENGTH))
  let window = Buffer.alloc(Math.min(capacity, 65_536) * ID_LENGTH)
  let count = 0
  let total = 0
  let low: Buffer = Buffer.alloc(ID_LENGTH) // ids below this were checked by an earlier window
  const flush = async (high: Buffer | undefined): Promise<void> => {
    await checkWindow(repo, referenced, window.subarray(0, count * ID_LENGTH), low, high, report, signal)
    if (high !== undefined) low = high
    count = 0
  }
  for await (const info of repo.store.list(PREFIX_CHUNKS, { signal })) {
    const hex = chunkIdOfKey(info.key)
    if (hex === undefined) continue
    const id = Buffer.from(hex, 'hex')
    if (count === capacity) await flush(id)
    if ((count + 1) * ID_LENGTH > window.length) {
      const grown = Buffer.alloc(Math.min(capacity * ID_LENGTH, window.length * 2))
      window.copy(grown)
      window = grown
    }
    id.copy(window, count * ID_LENGTH)
    count++
    total++
  }
  await flush(undefined)
  return total
}

/** Reports referenced ids in [low, high) that are not in `present` (sorted ids). */
async function checkWindow(
  repo: Repository,
  { indexes, cold }: Referenced,
  present: Buffer,
  low: Buffer,
  high: Buffer | undefined,
  report: (object: string, problem: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const n = present.length / ID_LENGTH
  for (const { key, point } of indexes) {
    throwIfAborted(signal)
    const ids = Buffer.from((await readDiskIndex(repo, key, signal)).ids)
    for (let i = 0; i < ids.length / ID_LENGTH; i++) {
      const id = ids.subarray(i * ID_LENGTH, (i + 1) * ID_LENGTH)
      if (id.every((b) => b === 0) || id.compare(low) < 0 || (high !== undefined && id.compare(high) >= 0))
        continue
      if (contains(present, n, id)) continue
      const hex = id.toString('hex')
      const where = cold === undefined ? 'missing' : cold.problem(hex)
      if (where !== undefined) report(`chunk ${hex}`, `${where}; chunk ${i} of '${key}' (${point})`)
    }
  }
}

function contains(sorted: Buffer, n: number, id: Buffer): boolean {
  let lo = 0
  let hi = n - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const c = sorted.compare(id, 0, ID_LENGTH, mid * ID_LENGTH, (mid + 1) * ID_LENGTH)
    if (c === 0) return true
    if (c > 0) hi = mid - 1
    else lo = mid + 1
  }
  return false
}
