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

/** Point ids sort by creation time: 20261121T235400123Z-1f2e3d4c. */
export function makePointId(time: Date, random: Uint8Array): string {
  const stamp = time.toISOString().replace(/[-:.]/g, '')
  return `${stamp}-${Buffer.from(random.subarray(0, 4)).toString('hex')}`
}

export function pointTime(pointId: string): Date | undefined {
  const m = POINT_ID.exec(pointId)
  if (m === null) return undefined
  const s = m[1]!
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}.${s.slice(15, 18)}Z`
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? undefined : date
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
