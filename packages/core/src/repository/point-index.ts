// The point index (docs/repository-format.md, "Point index"): what lets a listing of 10,000 restore
// points read one prefix instead of 10,000 point directories. Each point has an empty entry, written
// before its manifest and deleted after it; a point is listed when its entry is listed AND its manifest
// is known to exist: read once (which also describes it), or found described in a segment, a create-once
// object a reader writes when it had to read many manifests. Existence always comes from the listing of
// the entries, never from a segment, so segments written by several readers at once never disagree on
// what exists: a segment only spares the manifest reads of entries that were confirmed before.
import { randomBytes } from 'node:crypto'
import { isNotFound, StorageError } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { KIND_POINT_SEGMENT, PREFIX_POINT_INDEX } from './format/constants.js'
import { formatPointRef, pointTime, type PointRef } from './format/layout.js'
import type { Manifest } from './format/manifest.js'
import {
  POINT_INDEX_READY_KEY,
  decodeSegment,
  encodeReady,
  entryRef,
  encodeSegment,
  listedManifest,
  newSegmentName,
  parseIndexName,
  pointEntryName,
  pointEntryPrefix,
  protectionMirrorName,
  type PointEntry,
} from './format/point-index.js'
import { readManifest, type PointSummary } from './manifest-reader.js'

/** A point as the index lists it: with its manifest as a segment keeps it (vm.metadata reduced). */
export interface IndexedPoint extends PointSummary {
  readonly manifest: Manifest
}

/** What one listing of the prefix found. */
export interface IndexListing {
  readonly ready: boolean
  readonly entries: readonly PointEntry[]
  /** formatPointRef of the points whose protection mirror exists. */
  readonly protected: ReadonlySet<string>
  readonly segments: readonly string[]
}

/** Read manifests beyond which a reader writes a segment (so that the next cold reader reads one). */
const COMPACT_AFTER = 64
/** Manifests read at once to confirm new entries. */
const READS = 16

interface Described {
  readonly manifest: Manifest
  /** The segment it was read from; undefined when its manifest was read. */
  readonly segment: string | undefined
  /** What the last listing gave of it: the same object again while nothing changes (callers memoize). */
  listed?: IndexedPoint
}

/** Per open repository: entries known to be committed, and the segments already read. */
interface IndexCache {
  readonly described: Map<string, Described>
  readonly segments: Set<string>
  /** The index was found complete (it stays so). */
  ready: boolean
}

const caches = new WeakMap<Repository, IndexCache>()

function cacheOf(repo: Repository): IndexCache {
  let cache = caches.get(repo)
  if (cache === undefined) {
    cache = { described: new Map(), segments: new Set(), ready: false }
    caches.set(repo, cache)
  }
  return cache
}

export async function listIndex(repo: Repository, signal?: AbortSignal): Promise<IndexListing> {
  let ready = false
  const entries: PointEntry[] = []
  const marks = new Set<string>()
  const segments: string[] = []
  for await (const info of repo.store.list(PREFIX_POINT_INDEX, { signal, keysOnly: true })) {
    const name = parseIndexName(info.key.slice(PREFIX_POINT_INDEX.length))
    if (name?.kind === 'ready') ready = true
    else if (name?.kind === 'entry') entries.push(name.entry)
    else if (name?.kind === 'protected') marks.add(formatPointRef(name.ref))
    else if (name?.kind === 'segment') segments.push(name.name)
  }
  return { ready, entries, protected: marks, segments }
}

export interface ReadIndexOptions {
  /** Write a segment when many manifests had to be read (default true; read-only stores just fail it). */
  readonly compact?: boolean
  /** Manifests read beyond which a segment is written (default 64). */
  readonly compactAfter?: number
  readonly signal?: AbortSignal
}

/**
 * Every committed point, oldest first, from the index; undefined when the repository has no complete
 * index yet (written by an older version: list the point directories instead, buildPointIndex makes it).
 */
export async function readPointIndex(
  repo: Repository,
  options: ReadIndexOptions = {},
): Promise<IndexedPoint[] | undefined> {
  const { signal } = options
  const listing = await listIndex(repo, signal)
  if (!listing.ready) return undefined
  const cache = cacheOf(repo)
  cache.ready = true
  for (const name of listing.segments) {
    if (cache.segments.has(name)) continue
    const points = await readSegment(repo, name, signal)
    for (const p of points ?? [])
      cache.described.set(p.entry, { ...cache.described.get(p.entry), manifest: p.manifest, segment: name })
    cache.segments.add(name)
  }
  const fresh = listing.entries.filter((e) => !cache.described.has(e.name))
  for (let i = 0; i < fresh.length; i += READS) {
    const batch = fresh.slice(i, i + READS)
    const read = await Promise.all(batch.map((e) => confirm(repo, e, signal)))
    read.forEach((m, j) => {
      if (m !== undefined) cache.described.set(batch[j]!.name, { manifest: m, segment: undefined })
    })
  }
  // Entries no longer listed are points deleted since: forgotten (their names are never used again).
  const listed = new Set(listing.entries.map((e) => e.name))
  for (const name of cache.described.keys()) if (!listed.has(name)) cache.described.delete(name)
  const after = options.compactAfter ?? COMPACT_AFTER
  if (options.compact !== false && shouldCompact(listing, cache, after))
    await compact(repo, listing, cache, signal)
  return pointsOf(listing, cache)
}

/** The point's manifest as the index keeps it, if it is committed; undefined if not (yet, or any more). */
async function confirm(repo: Repository, e: PointEntry, signal?: AbortSignal): Promise<Manifest | undefined> {
  try {
    return listedManifest(await readManifest(repo, e, signal))
  } catch (error) {
    if (error instanceof RepositoryError && error.code === 'POINT_NOT_FOUND') return undefined
    throw error
  }
}

function pointsOf(listing: IndexListing, cache: IndexCache): IndexedPoint[] {
  const out: IndexedPoint[] = []
  const seen = new Set<string>()
  for (const e of listing.entries) {
    const described = cache.described.get(e.name)
    const ref = entryRef(e)
    // Two entries of one point: two writers of the same point id (mirrors), one of which committed.
    if (described === undefined || seen.has(ref)) continue
    seen.add(ref)
    const marked = listing.protected.has(ref)
    if (described.listed?.protected !== marked) {
      const { vm, pointId } = e
      const time = pointTime(pointId)
      if (time === undefined) continue // the form of a point id, not a date
      described.listed = { vm, pointId, ref, time, protected: marked, manifest: described.manifest }
    }
    out.push(described.listed)
  }
  // Entries list in key order, which is the points' (their names start with the point id): sorted
  // again only if a store listed otherwise.
  const order = (a: IndexedPoint, b: IndexedPoint): number =>
    a.time.getTime() - b.time.getTime() || a.pointId.localeCompare(b.pointId)
  return out.every((p, i) => i === 0 || order(out[i - 1]!, p) <= 0) ? out : out.sort(order)
}

async function readSegment(
  repo: Repository,
  name: string,
  signal?: AbortSignal,
): Promise<ReturnType<typeof decodeSegment> | undefined> {
  const key = `${PREFIX_POINT_INDEX}${name}`
  const what = `point index segment '${key}' in repository '${repo.name}'`
  let bytes: Uint8Array
  try {
    bytes = await repo.store.get(key, { signal })
  } catch (error) {
    // Replaced by a newer segment since the listing: its entries are confirmed by their manifests.
    if (isNotFound(error)) return undefined
    throw error
  }
  try {
    return decodeSegment(repo.decode(bytes, KIND_POINT_SEGMENT, new TextEncoder().encode(key), what), what)
  } catch (error) {
    // A segment is a cache: one that does not authenticate or decode is passed over (its entries'
    // manifests are read, the next compaction replaces it, `repo check` reports it).
    if (error instanceof RepositoryError && ['CORRUPT_OBJECT', 'UNSUPPORTED_VERSION'].includes(error.code))
      return undefined
    throw error
  }
}

/** When the listed entries not described by a listed segment are many, or segments pile up. */
function shouldCompact(listing: IndexListing, cache: IndexCache, after: number): boolean {
  const segments = new Set(listing.segments)
  let loose = 0
  for (const e of listing.entries) {
    const d = cache.described.get(e.name)
    if (d !== undefined && (d.segment === undefined || !segments.has(d.segment))) loose++
  }
  return loose >= after || listing.segments.length > 2
}

/**
 * Writes one segment describing every listed, confirmed entry, then deletes the segments it was listed
 * with (the new one describes all they did of what still exists). A failure (read-only credentials) only
 * leaves the next reader to read the same manifests.
 */
async function compact(
  repo: Repository,
  listing: IndexListing,
  cache: IndexCache,
  signal?: AbortSignal,
): Promise<void> {
  const points = listing.entries.flatMap((e) => {
    const d = cache.described.get(e.name)
    return d === undefined ? [] : [{ entry: e.name, manifest: d.manifest }]
  })
  const name = newSegmentName(new Date(), randomBytes(4))
  const key = `${PREFIX_POINT_INDEX}${name}`
  try {
    const bytes = repo.encode(KIND_POINT_SEGMENT, encodeSegment(points), new TextEncoder().encode(key))
    await repo.store.put(key, bytes, { ifNoneMatch: true, signal })
    cache.segments.add(name)
    for (const p of points)
      cache.described.set(p.entry, { ...cache.described.get(p.entry), manifest: p.manifest, segment: name })
    for (const old of listing.segments) await repo.store.delete(`${PREFIX_POINT_INDEX}${old}`, { signal })
  } catch (error) {
    signal?.throwIfAborted()
    if (!(error instanceof StorageError)) throw error
  }
}

/**
 * Forgets what is known of the points that are not among `committed` (formatPointRef of each point
 * whose manifest exists, from walkPoints): their entries are confirmed again at the next listing, so that
 * a manifest removed behind the index's back (its entry left) stops being listed. Returns how many.
 */
export function revalidatePointIndex(repo: Repository, committed: ReadonlySet<string>): number {
  const cache = caches.get(repo)
  let forgotten = 0
  for (const name of cache?.described.keys() ?? []) {
    const entry = parseIndexName(name)
    if (entry?.kind !== 'entry' || committed.has(entryRef(entry.entry))) continue
    cache!.described.delete(name)
    forgotten++
  }
  return forgotten
}

/** Writes a new point's entry (before its manifest): `nonce`, 8 hex digits unique to this writing. */
export async function putPointEntry(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
  nonce: string = randomBytes(4).toString('hex'),
): Promise<string> {
  const key = `${PREFIX_POINT_INDEX}${pointEntryName(ref, nonce)}`
  await repo.store.put(key, new Uint8Array(0), { ifNoneMatch: true, signal })
  return key
}

/** The entries of the points with this id, of any VM (normally one). */
export async function pointEntries(
  repo: Repository,
  pointId: string,
  signal?: AbortSignal,
): Promise<PointEntry[]> {
  const out: PointEntry[] = []
  for await (const info of repo.store.list(pointEntryPrefix(pointId), { signal, keysOnly: true })) {
    const name = parseIndexName(info.key.slice(PREFIX_POINT_INDEX.length))
    if (name?.kind === 'entry') out.push(name.entry)
  }
  return out
}

/** After its manifest is gone: the point's entries and protection mirror. */
export async function deletePointEntries(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
): Promise<void> {
  for (const e of await pointEntries(repo, ref.pointId, signal))
    if (e.vm === ref.vm) await repo.store.delete(`${PREFIX_POINT_INDEX}${e.name}`, { signal })
  await repo.store.delete(protectionMirrorKey(ref), { signal })
}

export function protectionMirrorKey(ref: PointRef): string {
  return `${PREFIX_POINT_INDEX}${protectionMirrorName(ref)}`
}

/** Whether the repository has a complete point index (once it has, it keeps it). */
export async function hasPointIndex(repo: Repository, signal?: AbortSignal): Promise<boolean> {
  if (caches.get(repo)?.ready === true) return true
  return (await repo.store.stat(POINT_INDEX_READY_KEY, { signal })) !== undefined
}

/** Marks the index complete (init, or the end of buildPointIndex); a second writer's mark is kept. */
export async function markIndexReady(repo: Repository, signal?: AbortSignal): Promise<void> {
  try {
    await repo.store.put(POINT_INDEX_READY_KEY, encodeReady(new Date()), { ifNoneMatch: true, signal })
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error
  }
}
