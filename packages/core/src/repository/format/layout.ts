// Object keys: where each kind of object lives. Restore points are grouped by VM so that listing one VM's
// points is one prefix listing that returns ids and times without reading any manifest.
//
//   config                                   keys/<slot>
//   chunks/<hh>/<64 hex id>                  bad/<64 hex id>            (marked by verify)
//   points/<vm>/<point id>/manifest          points/<vm>/<point id>/disk-<n>
//   points/<vm>/<point id>/protected         (the point is protected)
//   sessions/<session id>/...                gc/<run id>/...
import { RepositoryError } from '../errors.js'
import { MANIFEST_NAME, PREFIX_BAD, PREFIX_CHUNKS, PREFIX_POINTS, PROTECTED_NAME } from './constants.js'

export function chunkKey(idHex: string): string {
  return `${PREFIX_CHUNKS}${idHex.slice(0, 2)}/${idHex}`
}

const HEX64 = /^[0-9a-f]{64}$/

/** The id of a chunk key, or undefined for anything else under chunks/. */
export function chunkIdOfKey(key: string): string | undefined {
  const id = key.slice(key.lastIndexOf('/') + 1)
  return HEX64.test(id) && key === chunkKey(id) ? id : undefined
}

export function badKey(idHex: string): string {
  return `${PREFIX_BAD}${idHex}`
}

/** VM ids are free text; keys get a reversible encoding limited to [A-Za-z0-9_.-] and %XX. */
export function encodeVmSegment(vmId: string): string {
  if (vmId === '') throw new RepositoryError('INVALID_ARGUMENT', 'empty VM id')
  return Array.from(new TextEncoder().encode(vmId), (b, i) => {
    const c = String.fromCharCode(b)
    // '.' is kept except in first place, so that no segment is '.' or '..' or hidden.
    return /[A-Za-z0-9_-]/.test(c) || (c === '.' && i > 0)
      ? c
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }).join('')
}

export function decodeVmSegment(segment: string): string {
  return decodeURIComponent(segment)
}

const POINT_ID = /^(\d{8}T\d{9}Z)-([0-9a-f]{8})$/

/** Whether `text` has the form of a point id (its date is checked by pointTime). */
export function isPointId(text: string): boolean {
  return POINT_ID.test(text)
}

/** Point ids sort by creation time: 20261121T235400123Z-1f2e3d4c. */
export function makePointId(time: Date, random: Uint8Array): string {
  const stamp = time.toISOString().replace(/[-:.]/g, '')
  return `${stamp}-${Buffer.from(random.subarray(0, 4)).toString('hex')}`
}

export function pointTime(pointId: string): Date | undefined {
  const m = POINT_ID.exec(pointId)
  if (m === null) return undefined
  const s = m[1]!
  const n = (from: number, to: number): number => Number(s.slice(from, to))
  const [year, month, day, hour, minute, second] = [n(0, 4), n(4, 6), n(6, 8), n(9, 11), n(11, 13), n(13, 15)]
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, n(15, 18))
  const date = new Date(ms)
  // Date.UTC carries overflows (month 13, second 60) into the next unit: such an id is not a date.
  const exact =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  return exact ? date : undefined
}

export interface PointRef {
  readonly vm: string
  readonly pointId: string
}

/** A point's user-facing reference: '<vm segment>/<point id>'. */
export function formatPointRef(ref: PointRef): string {
  return `${encodeVmSegment(ref.vm)}/${ref.pointId}`
}

export function pointPrefix(ref: PointRef): string {
  return `${PREFIX_POINTS}${encodeVmSegment(ref.vm)}/${ref.pointId}/`
}

export function manifestKey(ref: PointRef): string {
  return `${pointPrefix(ref)}${MANIFEST_NAME}`
}

export function protectionKey(ref: PointRef): string {
  return `${pointPrefix(ref)}${PROTECTED_NAME}`
}

/** Parses 'points/<vm>/<point id>/protected'; undefined for other keys. */
export function parseProtectionKey(key: string): PointRef | undefined {
  const parts = key.split('/')
  if (parts.length !== 4 || parts[3] !== PROTECTED_NAME) return undefined
  return parseManifestKey(`${parts.slice(0, 3).join('/')}/${MANIFEST_NAME}`)
}

export function diskIndexKey(ref: PointRef, disk: number): string {
  return `${pointPrefix(ref)}disk-${disk}`
}

export function vmPrefix(vm: string): string {
  return `${PREFIX_POINTS}${encodeVmSegment(vm)}/`
}

/** Parses 'points/<vm>/<point id>/manifest'; undefined for other keys. */
export function parseManifestKey(key: string): PointRef | undefined {
  const parts = key.split('/')
  if (parts.length !== 4 || parts[0] !== 'points' || parts[3] !== MANIFEST_NAME) return undefined
  if (!POINT_ID.test(parts[2]!)) return undefined
  try {
    return { vm: decodeVmSegment(parts[1]!), pointId: parts[2]! }
  } catch {
    return undefined
  }
}
