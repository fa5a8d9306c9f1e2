// The point index against the points themselves (the keys under points/, which every writer of every
// version makes): what `repo check` reports, what `--repair` fixes, and how an index is built for a
// repository written before it existed. Safe beside running backups: an entry without its manifest is
// only taken for a leftover once it is older than a session lease (a writer that paused longer than
// half a lease cannot commit any more: session.ts).
import { StorageError } from '../storage/index.js'
import { errorMessage } from '../shared/index.js'
import type { Repository } from './repository.js'
import { DEFAULT_TIMING } from './session.js'
import { KIND_POINT_SEGMENT, PREFIX_POINT_INDEX } from './format/constants.js'
import { encodeJson } from './format/json.js'
import { formatPointRef, manifestKey, type PointRef } from './format/layout.js'
import type { Manifest } from './format/manifest.js'
import { decodeSegment, listedManifest, parseIndexName, type PointEntry } from './format/point-index.js'
import type { PointSummary } from './manifest-reader.js'
import { markIndexReady, protectionMirrorKey, putPointEntry } from './point-index.js'

export interface IndexProblem {
  readonly object: string
  readonly problem: string
}

export interface IndexCheckResult {
  /** Whether the repository has a complete point index (false: written by a version without one). */
  readonly ready: boolean
  readonly entries: number
  readonly problems: readonly IndexProblem[]
  /** Problems fixed (with `repair`), and whether the index was built. */
  readonly repaired: number
  readonly built: boolean
}

export interface IndexCheckOptions {
  /** Fix what is found: add missing entries and mirrors, remove stale ones, drop wrong segments. */
  readonly repair?: boolean
  /** The manifests read by the caller (check reads every one), by point ref: segments are compared. */
  readonly manifests?: ReadonlyMap<string, Manifest>
  /** Entries younger than this may be a backup's about to commit (default: a session lease). */
  readonly staleMs?: number
  readonly now?: number
  readonly signal?: AbortSignal
}

/** Repairs (small puts and deletes) at once. */
const WRITES = 16

interface Found {
  ready: boolean
  entries: (PointEntry & { modified: number | undefined })[]
  mirrors: PointRef[]
  segments: string[]
}

async function listAll(repo: Repository, signal?: AbortSignal): Promise<Found> {
  const found: Found = { ready: false, entries: [], mirrors: [], segments: [] }
  for await (const info of repo.store.list(PREFIX_POINT_INDEX, { signal })) {
    const name = parseIndexName(info.key.slice(PREFIX_POINT_INDEX.length))
    if (name?.kind === 'ready') found.ready = true
    else if (name?.kind === 'entry') found.entries.push({ ...name.entry, modified: info.modified?.getTime() })
    else if (name?.kind === 'protected') found.mirrors.push(name.ref)
    else if (name?.kind === 'segment') found.segments.push(name.name)
  }
  return found
}

/**
 * Compares the index with `points` (walkPoints: every committed point). Without an index, reports
 * nothing (listings read the point directories, as before) and, with `repair`, builds it.
 */
export async function checkPointIndex(
  repo: Repository,
  points: readonly PointSummary[],
  options: IndexCheckOptions = {},
): Promise<IndexCheckResult> {
  const { signal, repair = false } = options
  const found = await listAll(repo, signal)
  const problems: IndexProblem[] = []
  const actions: (() => Promise<unknown>)[] = []
  const fix = (object: string, problem: string, action: () => Promise<unknown>): void => {
    if (found.ready) problems.push({ object, problem })
    if (repair) actions.push(action)
  }
  const committed = new Map(points.map((p) => [p.ref, p]))
  const indexed = new Set(found.entries.map((e) => formatPointRef(e)))
  for (const p of points)
    if (!indexed.has(p.ref))
      fix(`restore point ${p.ref}`, 'has no point index entry: listings miss it', () =>
        putPointEntry(repo, p, signal),
      )
  const staleBefore = (options.now ?? Date.now()) - (options.staleMs ?? DEFAULT_TIMING.leaseMs)
  for (const e of found.entries) {
    const key = `${PREFIX_POINT_INDEX}${e.name}`
    if (committed.has(formatPointRef(e)) || (e.modified ?? 0) > staleBefore) continue
    fix(key, 'names no committed restore point (a backup that failed, or a delete cut short)', () =>
      repo.store.delete(key, { signal }),
    )
  }
  const mirrored = new Set(found.mirrors.map((r) => formatPointRef(r)))
  for (const p of points) {
    if (p.protected && !mirrored.has(p.ref))
      fix(protectionMirrorKey(p), `missing: listings show ${p.ref} unprotected`, () =>
        putMirror(repo, p, signal),
      )
  }
  for (const ref of found.mirrors) {
    if (committed.get(formatPointRef(ref))?.protected === true) continue
    const key = protectionMirrorKey(ref)
    fix(key, 'mirrors no protection marker: listings show the point protected', () =>
      repo.store.delete(key, { signal }),
    )
  }
  for (const name of found.segments) {
    const wrong = await checkSegment(repo, name, options.manifests, signal)
    if (wrong === undefined) continue
    const key = `${PREFIX_POINT_INDEX}${name}`
    fix(key, `${wrong}: removed, the next listing reads the manifests again`, () =>
      repo.store.delete(key, { signal }),
    )
  }
  for (let i = 0; i < actions.length; i += WRITES)
    await Promise.all(actions.slice(i, i + WRITES).map((a) => a()))
  const repaired = found.ready ? actions.length : 0
  if (!found.ready && repair) await markIndexReady(repo, signal)
  return {
    ready: found.ready || repair,
    entries: found.entries.length,
    problems,
    repaired,
    built: !found.ready && repair,
  }
}

async function putMirror(repo: Repository, ref: PointRef, signal?: AbortSignal): Promise<void> {
  try {
    await repo.store.put(protectionMirrorKey(ref), new Uint8Array(0), { ifNoneMatch: true, signal })
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
  }
}

/** Why a segment is wrong (unreadable, or describing a point otherwise than its manifest); undefined if right. */
async function checkSegment(
  repo: Repository,
  name: string,
  manifests: ReadonlyMap<string, Manifest> | undefined,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const key = `${PREFIX_POINT_INDEX}${name}`
  const what = `point index segment '${key}' in repository '${repo.name}'`
  try {
    const bytes = await repo.store.get(key, { signal })
    const points = decodeSegment(
      repo.decode(bytes, KIND_POINT_SEGMENT, new TextEncoder().encode(key), what),
      what,
    )
    for (const p of points) {
      const manifest = manifests?.get(formatPointRef(refOf(p)))
      if (manifest === undefined) continue
      const want = Buffer.from(encodeJson(listedManifest(manifest)))
      if (!want.equals(Buffer.from(encodeJson(p.manifest))))
        return `describes ${formatPointRef(refOf(p))} otherwise than its manifest`
    }
    return undefined
  } catch (error) {
    signal?.throwIfAborted()
    if (error instanceof StorageError && error.code === 'NOT_FOUND') return undefined // replaced meanwhile
    return errorMessage(error)
  }
}

function refOf(p: { manifest: Manifest }): PointRef {
  return { vm: p.manifest.vm.id, pointId: p.manifest.pointId }
}

/**
 * GC's part: entries of points with no manifest (a writer that died before its commit, a delete cut
 * short), written before `cutoff` and not a live session's point, are deleted, as GC deletes the disk
 * indexes such points left. Returns how many.
 */
export async function removeStaleEntries(
  repo: Repository,
  committed: readonly PointRef[],
  livePoints: ReadonlySet<string>,
  cutoff: number,
  signal?: AbortSignal,
): Promise<number> {
  const refs = new Set(committed.map((r) => formatPointRef(r)))
  let removed = 0
  for (const e of (await listAll(repo, signal)).entries) {
    if (refs.has(formatPointRef(e)) || livePoints.has(e.pointId) || (e.modified ?? Infinity) >= cutoff)
      continue
    if ((await repo.store.stat(manifestKey(e), { signal })) !== undefined) continue // committed since
    await repo.store.delete(`${PREFIX_POINT_INDEX}${e.name}`, { signal })
    removed++
  }
  return removed
}

/** Builds the index of a repository written before it existed (its entries and mirrors, then `ready`). */
export async function buildPointIndex(
  repo: Repository,
  points: readonly PointSummary[],
  signal?: AbortSignal,
): Promise<IndexCheckResult> {
  return checkPointIndex(repo, points, { repair: true, signal })
}
