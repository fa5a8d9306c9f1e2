// What an imported restore point records about its VM: the records of the XO point put in the shape a
// Strata backup writes (engine/vm-metadata.ts), so that `strata restore vm` rebuilds the VM from an
// imported point as from a native one, plus where it came from (`xo`). A delta point's records are in its
// metadata JSON; a full point's are in its XVA's ova.xml. An import stores every disk in XO's numbering
// (attached disks by userdevice first, then the others, as a checkpoint's memory); the VM's records list
// the attached ones, which a VM restore attaches again. XO keeps a job's name in its own
// database, not on the remote: the point carries the job's id.
import type { PointMetadata } from '../engine/vm-metadata.js'
import type { XapiRecord } from '../xapi/index.js'
import { deltaDisks, type XapiLike, type XoDeltaMetadata, type XoMetadata } from './format/metadata.js'
import type { Ova } from './format/ova.js'

/** The tag an imported point carries: how a later import knows the XO point is already in. */
export const IMPORT_TAG_PREFIX = 'xo-backup:'
export const importTag = (backupId: string): string => `${IMPORT_TAG_PREFIX}${backupId}`

export interface ImportedMetadata extends PointMetadata {
  readonly xo: {
    readonly backup: string
    readonly remote: string
    readonly mode: 'delta' | 'full'
    readonly jobId: string
    readonly timestamp: number
  }
}

export interface XoPointDisk {
  readonly vdi: XapiLike
  readonly vbd: XapiLike | undefined
}

/** The point's disks in XO's numbering. */
export function pointDisks(meta: XoMetadata, ova: Ova | undefined): readonly XoPointDisk[] {
  return meta.mode === 'delta' ? deltaDisks(meta) : (ova?.disks ?? [])
}

export function importedMetadata(
  meta: XoMetadata,
  origin: { backup: string; remote: string },
  ova: Ova | undefined,
): ImportedMetadata {
  const attached = pointDisks(meta, ova).filter(
    (d): d is XoPointDisk & { vbd: XapiLike } => d.vbd !== undefined,
  )
  const vm = meta.mode === 'full' && ova !== undefined ? { ...ova.vm, ...meta.vm } : meta.vm
  return {
    kind: 'strata-vm',
    version: 1,
    vm: vm as XapiRecord,
    disks: attached.map((d) => ({
      source: String(d.vdi.$snapshot_of$uuid ?? d.vdi.uuid ?? ''),
      snapshot: String(d.vdi.uuid ?? ''),
      vdi: booleans(d.vdi, ['sharable', 'read_only']),
      vbd: booleans(d.vbd, ['bootable', 'unpluggable']),
    })),
    otherVbds: [],
    vifs: meta.mode === 'delta' ? vifs(meta) : [],
    vtpms: meta.mode === 'delta' ? meta.vtpms.map((contents) => ({ is_unique: false, contents })) : [],
    runId: `xo-import:${origin.backup}`,
    withMemory: false,
    xo: {
      backup: origin.backup,
      remote: origin.remote,
      mode: meta.mode,
      jobId: meta.jobId,
      timestamp: meta.timestamp,
    },
  }
}

/** XO keeps a VIF's network as `$network$uuid` and `$network$name_label`; Strata as `$network`. */
function vifs(meta: XoDeltaMetadata): PointMetadata['vifs'] {
  return Object.values(meta.vifs).map((vif) => ({
    ...(vif as XapiRecord),
    $network: {
      uuid: String(vif.$network$uuid ?? ''),
      name_label: String(vif.$network$name_label ?? ''),
    },
  }))
}

/** XenServer before 7.1 stored booleans as 0 and 1 (xo-backups.md §2.2). */
function booleans(record: XapiLike, fields: readonly string[]): XapiRecord {
  const out: XapiRecord = { ...record }
  for (const f of fields) if (typeof out[f] === 'number') out[f] = out[f] !== 0
  return out
}
