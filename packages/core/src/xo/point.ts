// A restore point of an XO remote: one metadata JSON, its disks resolved (the whole delta chain of each
// VHD, or the XVA's disks), and each disk opened for reading. Ids are `<vm uuid>/<file date>`; XO's own
// form (`/xo-vm-backups/<vm>/<date>.json`) is accepted too.
import { formatUuid } from '../vhd/index.js'
import { errorCode, errorMessage } from '../shared/index.js'
import { MemberCache, openChain } from './chain.js'
import { ChainDisk, type XoDisk } from './disk.js'
import { XoError } from './errors.js'
import { deltaDisks, parseMetadata, type XoMetadata } from './format/metadata.js'
import { baseOf, dirOf, isUuid, parseFileDate, resolveFrom, VM_BACKUP_DIR } from './format/paths.js'
import type { XoRemote } from './remote.js'
import { readOva, XvaDisk } from './xva.js'

/** Metadata files are small: XAPI records and a path per disk. */
export const MAX_METADATA = 16 * 1024 * 1024

export interface XoDiskSummary {
  readonly index: number
  readonly name: string
  /** uuid of the VDI the backup was taken from (the live VDI), when the metadata says. */
  readonly vdi: string
  readonly size: number
  /** The VHD (alias or file) or XVA the disk is read from. */
  readonly path: string
  /** VHDs from this one back to the key (full) VHD (1 for an XVA). */
  readonly chainLength: number
}

export interface XoPointSummary {
  readonly id: string
  readonly vm: string
  readonly vmName: string
  readonly timestamp: number
  readonly mode: 'delta' | 'full' | 'unknown'
  readonly jobId: string
  readonly scheduleId: string | undefined
  readonly size: number | undefined
  readonly disks: readonly XoDiskSummary[]
  readonly usable: boolean
  /** Why the point cannot be restored, and the error's code. */
  readonly reason: string | undefined
  readonly code: string | undefined
  /** Things an admin should know: interrupted merges, locks, what could not be checked. */
  readonly notes: string[]
}

export interface XoRestorePoint {
  readonly summary: XoPointSummary
  readonly metadata: XoMetadata
  openDisk(index: number, signal?: AbortSignal): Promise<XoDisk>
}

/** The metadata file of a point id. */
export function metadataPath(id: string): string {
  const xo = /^\/?xo-vm-backups\/([^/]+)\/([^/]+)\.json$/.exec(id)
  const [vm, date] = xo !== null ? [xo[1]!, xo[2]!] : id.split('/')
  if (
    vm === undefined ||
    date === undefined ||
    !isUuid(vm) ||
    !/^[0-9A-Za-z._-]+$/.test(date) ||
    date.startsWith('.')
  ) {
    throw new XoError('XO_BACKUP_NOT_FOUND', `'${id}' is not an XO restore point id (<vm uuid>/<date>)`)
  }
  return `${VM_BACKUP_DIR}/${vm}/${date}.json`
}

export function pointId(file: string): string {
  return `${baseOf(dirOf(file))}/${baseOf(file).replace(/\.json$/, '')}`
}

export async function openPoint(remote: XoRemote, id: string, signal?: AbortSignal): Promise<XoRestorePoint> {
  const file = metadataPath(id)
  const bytes = await remote.read(file, MAX_METADATA, signal).catch((error: unknown) => {
    if ((error as XoError).code !== 'XO_NOT_FOUND') throw error
    throw new XoError('XO_BACKUP_NOT_FOUND', `no restore point ${id} in ${remote.name}`, { cause: error })
  })
  const cache = new MemberCache(remote)
  let metadata: XoMetadata
  let summary: XoPointSummary
  try {
    metadata = parseMetadata(bytes, file)
    summary = await describe(remote, cache, metadata, signal)
  } catch (error) {
    throw unusable(id, error)
  }
  if (!summary.usable) {
    throw new XoError('XO_POINT_UNUSABLE', `restore point ${id} is unusable: ${summary.reason}`, {
      details: { reason: summary.reason, cause: summary.code },
    })
  }
  return {
    summary,
    metadata,
    async openDisk(index, diskSignal) {
      const disk = summary.disks[index]
      if (disk === undefined && (metadata.mode === 'delta' || !remote.encrypted)) {
        throw new XoError(
          'XO_DISK_NOT_FOUND',
          `restore point ${id} has ${summary.disks.length} disks, no disk ${index}`,
        )
      }
      if (metadata.mode === 'full')
        return XvaDisk.open(remote, resolveFrom(file, metadata.xva, `XVA of ${file}`), index, diskSignal)
      const { chain, members } = await openChain(cache, disk!.path, diskSignal)
      const paths = members.map((m) => m.path)
      return new ChainDisk(chain, `disk ${index} (${disk!.name}) of ${id}`, paths)
    },
  }
}

function unusable(id: string, cause: unknown): XoError {
  return new XoError('XO_POINT_UNUSABLE', `restore point ${id} is unusable: ${errorMessage(cause)}`, {
    cause,
    details: { reason: errorMessage(cause), cause: errorCode(cause) },
  })
}

/** The point's summary; a disk that cannot be resolved makes it unusable, with the reason. */
export async function describe(
  remote: XoRemote,
  cache: MemberCache,
  meta: XoMetadata,
  signal?: AbortSignal,
): Promise<XoPointSummary> {
  const base = {
    id: pointId(meta.file),
    vm: baseOf(dirOf(meta.file)),
    vmName: String(meta.vm.name_label ?? ''),
    timestamp: meta.timestamp,
    mode: meta.mode,
    jobId: meta.jobId,
    scheduleId: meta.scheduleId,
    size: meta.size,
    notes: [] as string[],
  }
  try {
    const disks =
      meta.mode === 'delta'
        ? await deltaSummaries(cache, meta, signal)
        : await xvaSummaries(remote, meta, base.notes, signal)
    return { ...base, disks, usable: true, reason: undefined, code: undefined }
  } catch (error) {
    if (errorCode(error) === 'ABORTED') throw error
    return { ...base, disks: [], usable: false, reason: errorMessage(error), code: errorCode(error) }
  }
}

async function deltaSummaries(
  cache: MemberCache,
  meta: XoMetadata & { mode: 'delta' },
  signal?: AbortSignal,
): Promise<XoDiskSummary[]> {
  const out: XoDiskSummary[] = []
  for (const [index, disk] of deltaDisks(meta).entries()) {
    const path = resolveFrom(meta.file, disk.vhd, `VHD of ${meta.file}`)
    const { chain } = await openChain(cache, path, signal)
    out.push({
      index,
      name: String(disk.vdi.name_label ?? ''),
      vdi: String(disk.vdi.$snapshot_of$uuid ?? disk.vdi.uuid ?? formatUuid(chain.tip.footer.uuid)),
      size: chain.size,
      path,
      chainLength: chain.disks.length,
    })
  }
  return out
}

async function xvaSummaries(
  remote: XoRemote,
  meta: XoMetadata & { mode: 'full' },
  notes: string[],
  signal?: AbortSignal,
): Promise<XoDiskSummary[]> {
  const path = resolveFrom(meta.file, meta.xva, `XVA of ${meta.file}`)
  if ((await remote.size(path, signal)) === undefined) {
    throw new XoError('XO_NOT_FOUND', `its XVA ${path} is missing`)
  }
  if (remote.encrypted) {
    notes.push(
      'encrypted XVA: its disks are known once the whole file is read and authenticated (at restore)',
    )
    return []
  }
  const ova = await readOva(remote, path, signal)
  return ova.disks.map((d, index) => ({
    index,
    name: String(d.vdi.name_label ?? ''),
    vdi: String(d.vdi.uuid ?? ''),
    size: d.size,
    path,
    chainLength: 1,
  }))
}

/** A point whose metadata file does not parse: still listed, unusable, dated by its file name. */
export function unparsedPoint(file: string, error: unknown): XoPointSummary {
  return {
    id: pointId(file),
    vm: baseOf(dirOf(file)),
    vmName: '',
    timestamp: parseFileDate(baseOf(file).replace(/\.json$/, '')) ?? 0,
    mode: 'unknown',
    jobId: '',
    scheduleId: undefined,
    size: undefined,
    disks: [],
    usable: false,
    reason: errorMessage(error),
    code: errorCode(error),
    notes: [],
  }
}
