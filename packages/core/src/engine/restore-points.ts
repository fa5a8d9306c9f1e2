// Restore points as admins look for them: by the VM's name or uuid, with what each point is (the VM's
// name, the job and schedule that wrote it, full or delta, the new data it added). Repositories key
// points by VM uuid and know nothing of names: the names come from the VM records in the manifests.
import {
  formatPointRef,
  listPoints,
  readManifest,
  readPointIndex,
  resolvePoint,
  type DiskRole,
  type IndexedPoint,
  type Manifest,
  type PointRef,
  type PointSummary,
  type Repository,
} from '../repository/index.js'
import { setMaxListeners } from 'node:events'
import { StrataError } from '../shared/index.js'
import { isPointMetadata } from './vm-metadata.js'
import { isMetadataPoint, metadataLabel } from './metadata-run.js'

export class PointLookupError extends StrataError {}

export interface RestorePointInfo {
  /** '<vm segment>/<point id>', what users type. */
  readonly ref: string
  readonly pointId: string
  /** The VM's uuid for backups of a pool (any id for images backed up by `repo backup-image`). */
  readonly vmUuid: string
  readonly vmName: string
  readonly time: Date
  readonly jobId?: string
  readonly scheduleId?: string
  /** `unknown` for points written before Strata recorded it; `metadata` for a metadata job's. */
  readonly kind: 'full' | 'delta' | 'unknown' | 'metadata'
  /** The point holds the VM's memory image: `restore vm` creates it Suspended, resumable. */
  readonly withMemory: boolean
  /** Sum of the disks' sizes. */
  readonly size: number
  /** Stored bytes this point added to the repository (chunks no earlier point had). */
  readonly newBytes: number
  /** Its disks, and its memory image (role 'memory'), if any. */
  readonly disks: readonly {
    readonly name: string
    readonly size: number
    readonly newBytes: number
    readonly role?: DiskRole
  }[]
  readonly tags: readonly string[]
  /** Kept by retention and refused to deletes until unprotected. */
  readonly protected: boolean
}

export function describePoint(point: PointSummary, manifest: Manifest): RestorePointInfo {
  return {
    ref: point.ref,
    pointId: point.pointId,
    vmUuid: point.vm,
    vmName: metadataLabel(manifest) ?? pointVmName(manifest),
    time: point.time,
    ...(manifest.jobId === undefined ? {} : { jobId: manifest.jobId }),
    ...(manifest.scheduleId === undefined ? {} : { scheduleId: manifest.scheduleId }),
    kind: isMetadataPoint(manifest)
      ? 'metadata'
      : manifest.full === undefined
        ? 'unknown'
        : manifest.full
          ? 'full'
          : 'delta',
    withMemory: manifest.disks.some((d) => d.role === 'memory'),
    size: manifest.disks.reduce((n, d) => n + d.size, 0),
    newBytes: manifest.disks.reduce((n, d) => n + d.newBytes, 0),
    disks: manifest.disks.map((d) => ({
      name: d.name,
      size: d.size,
      newBytes: d.newBytes,
      ...(d.role === undefined ? {} : { role: d.role }),
    })),
    tags: manifest.tags,
    protected: point.protected,
  }
}

/** Reads a point's manifest; a cache can stand in (manifests never change once written). */
export type ManifestSource = (point: PointSummary, signal?: AbortSignal) => Promise<Manifest>

/**
 * Describes a point (describePoint of its manifest). A cache of these stands in for one of manifests at
 * a fraction of the memory: a manifest holds the VM's whole record, a description a few fields.
 */
export type PointSource = (point: PointSummary, signal?: AbortSignal) => Promise<RestorePointInfo>

/** A PointSource reading each manifest from `source`. */
export function describedBy(source: ManifestSource): PointSource {
  return async (point, signal) => describePoint(point, await source(point, signal))
}

/**
 * Points of the VM named `vm` (its uuid, else its name), or of every VM; oldest first. A name that
 * several VMs had lists the points of all of them.
 */
export async function listRestorePoints(
  repo: Repository,
  vm: string | undefined,
  signal?: AbortSignal,
  describe: PointSource = describedBy((p, s) => readManifest(repo, p, s)),
): Promise<RestorePointInfo[]> {
  const byUuid = vm === undefined ? [] : await listPoints(repo, vm, signal)
  const described = byUuid.length > 0 ? undefined : await readPointIndex(repo, { signal })
  const all =
    described?.map(describeIndexed) ??
    (await describeAll(
      byUuid.length > 0 ? byUuid : await listPoints(repo, undefined, signal),
      describe,
      signal,
    ))
  return all.filter((info) => vm === undefined || byUuid.length > 0 || info.vmName === vm)
}

/**
 * The index gives the same object for a point while nothing changes about it: its description is made
 * once (10,000 points listed again cost a lookup each).
 */
const descriptions = new WeakMap<IndexedPoint, RestorePointInfo>()

function describeIndexed(point: IndexedPoint): RestorePointInfo {
  let info = descriptions.get(point)
  if (info === undefined) {
    info = describePoint(point, point.manifest)
    descriptions.set(point, info)
  }
  return info
}

/** Describes points one manifest at a time (where there is no point index, or for one VM's points). */
async function describeAll(
  points: readonly PointSummary[],
  describe: PointSource,
  signal?: AbortSignal,
): Promise<RestorePointInfo[]> {
  // Manifests are small: read a few at once (an S3 round trip each), in batches that keep the order.
  // The reads listen to a signal of their own, so that the caller's gets one listener, not one each.
  const own = new AbortController()
  setMaxListeners(0, own.signal)
  const relay = (): void => own.abort(signal?.reason)
  signal?.addEventListener('abort', relay, { once: true })
  const all: RestorePointInfo[] = []
  try {
    for (let i = 0; i < points.length; i += MANIFEST_READS) {
      const batch = points.slice(i, i + MANIFEST_READS)
      all.push(...(await Promise.all(batch.map((p) => describe(p, own.signal)))))
    }
  } finally {
    signal?.removeEventListener('abort', relay)
  }
  return all
}

const MANIFEST_READS = 16

/** The uuid of the VM a user named (uuid or name) among the VMs with points; one, or an error. */
export async function resolvePointVm(repo: Repository, vm: string, signal?: AbortSignal): Promise<string> {
  const points = await listRestorePoints(repo, vm, signal)
  const uuids = [...new Set(points.map((p) => p.vmUuid))]
  if (uuids.length === 1) return uuids[0]!
  if (uuids.length > 1)
    throw new PointLookupError(
      'VM_AMBIGUOUS',
      `${uuids.length} VMs named '${vm}' have restore points in repository '${repo.name}' (${uuids.join(', ')}): give the uuid`,
    )
  throw new PointLookupError(
    'VM_NOT_FOUND',
    `no restore point of a VM named '${vm}' (or with that uuid) in repository '${repo.name}'`,
  )
}

/**
 * What a user typed for a point: its id, '<vm>/<point id>' with the VM's uuid or name, or 'latest'
 * with `vm` (the VM's newest point).
 */
export async function findRestorePoint(
  repo: Repository,
  text: string | undefined,
  vm: string | undefined,
  signal?: AbortSignal,
): Promise<PointRef> {
  if (text === undefined || text === 'latest') {
    if (vm === undefined)
      throw new PointLookupError('POINT_NOT_FOUND', "a restore point id, or a VM to take its 'latest'")
    const uuid = await resolvePointVm(repo, vm, signal)
    const newest = (await listPoints(repo, uuid, signal)).at(-1)!
    return { vm: newest.vm, pointId: newest.pointId }
  }
  const slash = text.lastIndexOf('/')
  const ref = await resolvePoint(repo, slash > 0 ? text.slice(slash + 1) : text, signal).catch(
    async (error: unknown) => {
      // '<vm>/<point id>' written with the VM's id in its key form ('%2F' and the like).
      if (slash > 0) return resolvePoint(repo, text, signal)
      throw error
    },
  )
  // The key form ('disk%20image/…', as listings print refs) is the point itself.
  const named = slash > 0 && formatPointRef(ref) !== text ? text.slice(0, slash) : vm
  if (named !== undefined && named !== ref.vm && pointVmName(await readManifest(repo, ref, signal)) !== named)
    throw new PointLookupError(
      'POINT_NOT_FOUND',
      `restore point '${ref.pointId}' in repository '${repo.name}' is not one of VM '${named}'`,
    )
  return ref
}

/** The VM's name as its point recorded it (its id for points without VM records). */
export function pointVmName(manifest: Manifest): string {
  const meta = manifest.vm.metadata
  const name = isPointMetadata(meta) ? meta.vm.name_label : undefined
  return typeof name === 'string' && name !== '' ? name : manifest.vm.id
}
