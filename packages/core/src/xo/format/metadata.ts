// A VM backup's metadata JSON (`xo-vm-backups/<vm>/<ts>.json`, xo-backups.md §2.2), checked field by
// field: what the reader relies on must be there with the right type, the rest (XAPI records) is kept
// as given. Delta backups name a VHD per VDI (`vhds`, relative to the VM directory); full backups name
// an XVA.
import { XoError } from '../errors.js'

export type XapiLike = Readonly<Record<string, unknown>>

interface CommonMetadata {
  /** Path of the JSON file in the remote. */
  readonly file: string
  readonly timestamp: number
  readonly jobId: string
  readonly scheduleId: string | undefined
  /** Bytes XO wrote for the backup, as it recorded them. */
  readonly size: number | undefined
  /** The VM's XAPI record at backup time. */
  readonly vm: XapiLike
  readonly vmSnapshot: XapiLike | undefined
  readonly tags: readonly string[]
}

export interface XoDeltaMetadata extends CommonMetadata {
  readonly mode: 'delta'
  /** VDI ref → VHD path (a file or an alias), relative to the VM directory. */
  readonly vhds: Readonly<Record<string, string>>
  readonly vdis: Readonly<Record<string, XapiLike>>
  readonly vbds: Readonly<Record<string, XapiLike>>
  readonly vifs: Readonly<Record<string, XapiLike>>
  /** VTPM.get_contents results. */
  readonly vtpms: readonly string[]
}

export interface XoFullMetadata extends CommonMetadata {
  readonly mode: 'full'
  /** The XVA, relative to the VM directory. */
  readonly xva: string
}

export type XoMetadata = XoDeltaMetadata | XoFullMetadata

/** One disk of a delta backup, in the order restores number them. */
export interface XoDeltaDisk {
  readonly ref: string
  readonly vhd: string
  readonly vdi: XapiLike
  readonly vbd: XapiLike | undefined
}

export function parseMetadata(bytes: Uint8Array, file: string): XoMetadata {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (error) {
    throw invalid(file, 'it is not JSON', error)
  }
  const o = object(value, file, 'the document')
  const common: CommonMetadata = {
    file,
    timestamp: timestamp(o.timestamp, file),
    jobId: string(o.jobId, file, 'jobId'),
    scheduleId: typeof o.scheduleId === 'string' ? o.scheduleId : undefined,
    size: typeof o.size === 'number' && Number.isFinite(o.size) ? o.size : undefined,
    vm: object(o.vm, file, 'vm'),
    vmSnapshot: o.vmSnapshot === undefined ? undefined : object(o.vmSnapshot, file, 'vmSnapshot'),
    tags: Array.isArray(o.tags) ? o.tags.filter((t): t is string => typeof t === 'string') : [],
  }
  if (o.mode === 'full') return { ...common, mode: 'full', xva: string(o.xva, file, 'xva') }
  if (o.mode !== 'delta') throw invalid(file, `its mode is ${JSON.stringify(o.mode)}, not 'delta' or 'full'`)
  const vhds = records(o.vhds, file, 'vhds', (v, k) => string(v, file, `vhds[${k}]`))
  if (Object.keys(vhds).length === 0) throw invalid(file, 'it names no VHD')
  return {
    ...common,
    mode: 'delta',
    vhds,
    vdis: records(o.vdis ?? {}, file, 'vdis', (v, k) => object(v, file, `vdis[${k}]`)),
    vbds: records(o.vbds ?? {}, file, 'vbds', (v, k) => object(v, file, `vbds[${k}]`)),
    vifs: records(o.vifs ?? {}, file, 'vifs', (v, k) => object(v, file, `vifs[${k}]`)),
    vtpms: Array.isArray(o.vtpms) ? o.vtpms.filter((t): t is string => typeof t === 'string') : [],
  }
}

/** Disks attached by a VBD first, by userdevice, then the others (the memory of a checkpoint). */
export function deltaDisks(meta: XoDeltaMetadata): XoDeltaDisk[] {
  const vbdOf = new Map<string, XapiLike>()
  for (const vbd of Object.values(meta.vbds)) if (typeof vbd.VDI === 'string') vbdOf.set(vbd.VDI, vbd)
  const disks = Object.entries(meta.vhds).map(([ref, vhd]) => ({
    ref,
    vhd,
    vdi: meta.vdis[ref] ?? {},
    vbd: vbdOf.get(ref),
  }))
  const order = (d: XoDeltaDisk): number => {
    const device = Number(d.vbd?.userdevice)
    return d.vbd === undefined ? Infinity : Number.isFinite(device) ? device : 1e9
  }
  return disks.sort((a, b) => order(a) - order(b) || (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0))
}

function invalid(file: string, why: string, cause?: unknown): XoError {
  return new XoError('XO_METADATA_INVALID', `backup metadata ${file}: ${why}`, { cause })
}

function object(value: unknown, file: string, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(file, `${what} is not an object`)
  }
  return value as Record<string, unknown>
}

function string(value: unknown, file: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(file, `${what} is not a non-empty string`)
  return value
}

function timestamp(value: unknown, file: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(file, `timestamp ${JSON.stringify(value)} is not a date in ms`)
  }
  return value
}

function records<T>(
  value: unknown,
  file: string,
  what: string,
  check: (v: unknown, key: string) => T,
): Record<string, T> {
  const out: Record<string, T> = {}
  for (const [k, v] of Object.entries(object(value, file, what))) out[k] = check(v, k)
  return out
}
