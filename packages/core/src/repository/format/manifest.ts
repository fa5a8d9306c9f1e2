// The restore-point manifest: JSON inside an envelope, written last (the commit point). It carries the
// caller's free-form VM metadata, and for each disk the key and checksum of its fixed index.
import { JsonReader, encodeJson } from './json.js'
import { RepositoryError } from '../errors.js'

export interface ManifestDisk {
  readonly name: string
  readonly size: number
  readonly chunkSize: number
  /** Object key of the disk's fixed index. */
  readonly index: string
  /** Hex SHA-256 of the index entries (its header checksum). */
  readonly indexChecksum: string
  readonly nonZeroChunks: number
  /** Chunks this point uploaded, and their stored (compressed, sealed) bytes. */
  readonly newChunks: number
  readonly newBytes: number
  /**
   * What the disk is when it is not one of the VM's disks: 'memory', the VM's memory image (a checkpoint's
   * suspend VDI); 'file', a file of a point that holds files instead of disks (a metadata backup,
   * file-point.ts). Absent for VM disks, so that points without memory stay byte-identical.
   */
  readonly role?: DiskRole
}

export const DISK_ROLES = ['memory', 'file'] as const
export type DiskRole = (typeof DISK_ROLES)[number]

export interface Manifest {
  readonly version: 1
  readonly pointId: string
  readonly vm: { readonly id: string; readonly metadata: unknown }
  readonly disks: readonly ManifestDisk[]
  readonly tags: readonly string[]
  readonly jobId?: string
  readonly scheduleId?: string
  /**
   * Whether the backup read the whole disks (true) or only what changed since a base (false). Absent in
   * points written before it was recorded: unknown.
   */
  readonly full?: boolean
  readonly startedAt: string
  readonly finishedAt: string
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  return encodeJson(manifest)
}

export function decodeManifest(bytes: Uint8Array, what: string): Manifest {
  return readManifest(JsonReader.parse(bytes, what), what)
}

/** A manifest from JSON already parsed (the point index's segments hold many). */
export function readManifest(r: JsonReader, what: string): Manifest {
  if (r.integer('version') !== 1) throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown version`)
  const vm = r.object('vm')
  return {
    version: 1,
    pointId: r.string('pointId'),
    vm: { id: vm.string('id'), metadata: vm.value.metadata ?? null },
    disks: r.objects('disks').map((d) => ({
      name: d.string('name'),
      size: d.integer('size'),
      chunkSize: d.integer('chunkSize', 1),
      index: d.string('index'),
      indexChecksum: d.string('indexChecksum'),
      nonZeroChunks: d.integer('nonZeroChunks'),
      newChunks: d.integer('newChunks'),
      newBytes: d.integer('newBytes'),
      ...optionalRole(d, what),
    })),
    tags: r.strings('tags'),
    jobId: r.optionalString('jobId'),
    scheduleId: r.optionalString('scheduleId'),
    ...optionalFull(r),
    startedAt: r.string('startedAt'),
    finishedAt: r.string('finishedAt'),
  }
}

/** Only present when recorded, so that an old point re-encoded stays byte-identical. */
function optionalFull(r: JsonReader): { full?: boolean } {
  const full = r.optionalBoolean('full')
  return full === undefined ? {} : { full }
}

/** A role this version does not know would make a reader take the disk for something else: refused. */
function optionalRole(r: JsonReader, what: string): { role?: DiskRole } {
  const role = r.optionalString('role')
  if (role === undefined) return {}
  if (!(DISK_ROLES as readonly string[]).includes(role))
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what}: unknown disk role '${role}'`)
  return { role: role as DiskRole }
}
