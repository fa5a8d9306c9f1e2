// The point index's names and its segment codec (docs/repository-format.md, "Point index"). Pure: keys
// and bytes in, values out. Every name sits under one prefix, so that one listing (one readdir, or one
// S3 listing of 1000 names a page) yields every point's entry, every protection mirror and the segments:
//
//   index/points/<point id>.<nonce>.<vm segment>       empty; written before the point's manifest
//   index/points/protected.<point id>.<vm segment>     empty; mirrors points/<vm>/<point id>/protected
//   index/points/segment.<stamp>-<random>              described entries (envelope kind 4)
//   index/points/ready                                 the index is complete (JSON)
//
// Entries start with a digit (point ids do), the other names with a letter, and entries sort by time.
import { RepositoryError } from '../errors.js'
import {
  POINT_INDEX_PROTECTED,
  POINT_INDEX_READY,
  POINT_INDEX_SEGMENT,
  PREFIX_POINT_INDEX,
} from './constants.js'
import { JsonReader, encodeJson } from './json.js'
import { decodeVmSegment, encodeVmSegment, isPointId, type PointRef } from './layout.js'
import { readManifest, type Manifest } from './manifest.js'

export const POINT_INDEX_READY_KEY = `${PREFIX_POINT_INDEX}${POINT_INDEX_READY}`

const NONCE = /^[0-9a-f]{8}$/

export interface PointEntry extends PointRef {
  /** The entry's name under the prefix: unique to one writing of the point (its nonce). */
  readonly name: string
}

/** The entry name of a point written with `nonce` (8 hex digits, random per writing). */
export function pointEntryName(ref: PointRef, nonce: string): string {
  if (!NONCE.test(nonce)) throw new RepositoryError('INVALID_ARGUMENT', `point entry nonce '${nonce}'`)
  return `${ref.pointId}.${nonce}.${encodeVmSegment(ref.vm)}`
}

/** The prefix of every entry of a point id (any VM, any nonce). */
export function pointEntryPrefix(pointId: string): string {
  return `${PREFIX_POINT_INDEX}${pointId}.`
}

export function protectionMirrorName(ref: PointRef): string {
  return `${POINT_INDEX_PROTECTED}${ref.pointId}.${encodeVmSegment(ref.vm)}`
}

export function newSegmentName(now: Date, random: Uint8Array): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '')
  return `${POINT_INDEX_SEGMENT}${stamp}-${Buffer.from(random.subarray(0, 4)).toString('hex')}`
}

/** What one name under the prefix is; undefined for a name this version does not know (ignored). */
export type IndexName =
  | { readonly kind: 'entry'; readonly entry: PointEntry }
  | { readonly kind: 'protected'; readonly ref: PointRef }
  | { readonly kind: 'segment'; readonly name: string }
  | { readonly kind: 'ready' }

export function parseIndexName(name: string): IndexName | undefined {
  if (name === POINT_INDEX_READY) return { kind: 'ready' }
  if (name.startsWith(POINT_INDEX_SEGMENT)) return { kind: 'segment', name }
  if (name.startsWith(POINT_INDEX_PROTECTED)) {
    const ref = parseRef(name.slice(POINT_INDEX_PROTECTED.length), false)
    return ref && { kind: 'protected', ref: { vm: ref.vm, pointId: ref.pointId } }
  }
  const entry = parseRef(name, true)
  return entry && { kind: 'entry', entry: { vm: entry.vm, pointId: entry.pointId, name } }
}

/** '<point id>[.<nonce>].<vm segment>', the VM segment in its one canonical encoding. */
function parseRef(text: string, withNonce: boolean): PointRef | undefined {
  const first = text.indexOf('.')
  const pointId = text.slice(0, first)
  // The form only: a listing parses every name (pointTime, which makes a date, is for those listed).
  if (first < 0 || !isPointId(pointId)) return undefined
  let rest = text.slice(first + 1)
  if (withNonce) {
    if (!NONCE.test(rest.slice(0, 8)) || rest[8] !== '.') return undefined
    rest = rest.slice(9)
  }
  const vm = vmOfSegment(rest)
  return vm === undefined ? undefined : { vm, pointId }
}

/** Decoded VM segments (a listing names each VM many times): the canonical ones, or null. */
const segments = new Map<string, string | null>()

function vmOfSegment(segment: string): string | undefined {
  let vm = segments.get(segment)
  if (vm === undefined) {
    try {
      const decoded = decodeVmSegment(segment)
      vm = decoded !== '' && encodeVmSegment(decoded) === segment ? decoded : null
    } catch {
      vm = null
    }
    if (segments.size >= 100_000) segments.clear()
    segments.set(segment, vm)
  }
  return vm ?? undefined
}

/** formatPointRef of an entry, from its name (which holds the VM segment). */
export function entryRef(entry: PointEntry): string {
  return `${entry.name.slice(entry.pointId.length + 10)}/${entry.pointId}`
}

/** The index's `ready` record: since when it is complete (informative). */
export function encodeReady(since: Date): Uint8Array {
  return encodeJson({ version: 1, since: since.toISOString() })
}

/**
 * What a listing shows of a point, kept in a segment: its manifest with `vm.metadata` reduced to the
 * fields listings read (the kind of point, the VM's name, a metadata point's subject) and its disks'
 * `index` and `indexChecksum` empty (restores read the manifest itself), so that 10,000 points stay a
 * few MiB whatever their VM records hold.
 */
export function listedManifest(manifest: Manifest): Manifest {
  return {
    ...manifest,
    vm: { id: manifest.vm.id, metadata: listedMetadata(manifest.vm.metadata) },
    disks: manifest.disks.map((d) => ({ ...d, index: '', indexChecksum: '' })),
  }
}

/** metadata.kind, .what, .vm.name_label and .pool.name, where they are strings. */
function listedMetadata(metadata: unknown): unknown {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return null
  const m = metadata as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const field of ['kind', 'what']) if (typeof m[field] === 'string') out[field] = m[field]
  const inner = (name: string, field: string): void => {
    const o = m[name] as Record<string, unknown> | null | undefined
    if (typeof o === 'object' && o !== null && typeof o[field] === 'string') out[name] = { [field]: o[field] }
  }
  inner('vm', 'name_label')
  inner('pool', 'name')
  return out
}

export interface SegmentPoint {
  /** The entry's name under the prefix. */
  readonly entry: string
  readonly manifest: Manifest
}

/** A segment's plaintext: `{"version":1,"points":[{"entry":…,"manifest":…}, …]}`. */
export function encodeSegment(points: readonly SegmentPoint[]): Uint8Array {
  return encodeJson({ version: 1, points })
}

export function decodeSegment(bytes: Uint8Array, what: string): SegmentPoint[] {
  const r = JsonReader.parse(bytes, what)
  if (r.integer('version') !== 1) throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown version`)
  return r.objects('points').map((p) => {
    const entry = p.string('entry')
    const parsed = parseIndexName(entry)
    const manifest = readManifest(p.object('manifest'), what)
    if (
      parsed?.kind !== 'entry' ||
      parsed.entry.pointId !== manifest.pointId ||
      parsed.entry.vm !== manifest.vm.id
    )
      throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: entry '${entry}' names another point`)
    return { entry, manifest }
  })
}
