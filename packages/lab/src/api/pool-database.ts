// The pool database as xapi dumps and restores it (Pool_db_backup): the dump holds every persistent
// table (sessions and tasks as empty tables; messages live outside xapi's database), VTPM contents as
// `secret` rows the VTPM's `contents` column names. A restore checks the schema version
// (RESTORE_INCOMPATIBLE_VERSION), then prepares the backup for this host as xapi does: every host but
// the backup's master is dropped with its PIFs (the lab also drops their control domains and PBDs, as
// xapi's start-up sync would), the master takes this host's uuid, address and hostname, its control
// domain this host's dom0 uuid, and its physical PIFs this host's MACs by device name
// (RESTORE_TARGET_MISSING_DEVICE, RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP).
import { randomUUID } from 'node:crypto'
import type { Database, Row } from '../db/database.js'
import { columnOf, fieldOf, marshal, unmarshal, type DbDump } from '../db/db-xml.js'
import { XapiFailure } from '../db/failure.js'
import {
  guestMetricsDefaults,
  hostDefaults,
  networkDefaults,
  NULL,
  pbdDefaults,
  pifDefaults,
  poolDefaults,
  srDefaults,
  vbdDefaults,
  vdiDefaults,
  vifDefaults,
  vmDefaults,
} from '../db/schema.js'
import type { LabState, VersionProfile } from './lab-state.js'

/** The lab's database schema version per profile (xapi's Datamodel.schema_{major,minor}_vsn). */
export function schemaVersion(profile: VersionProfile): { major: number; minor: number } {
  return { major: 5, minor: profile === 'xcp-ng-8.2' ? 602 : 786 }
}

/** Tables xapi writes without rows (not persistent). */
const EPHEMERAL = new Set(['session', 'task'])
/** Classes the lab serves that are not in xapi's database. */
const NOT_IN_DB = new Set(['message'])

const TEMPLATES: Record<string, () => Record<string, unknown>> = {
  VM: vmDefaults,
  VDI: vdiDefaults,
  VBD: vbdDefaults,
  VIF: vifDefaults,
  SR: srDefaults,
  pool: poolDefaults,
  host: hostDefaults,
  network: networkDefaults,
  PIF: pifDefaults,
  PBD: pbdDefaults,
  VM_guest_metrics: guestMetricsDefaults,
  VTPM: () => ({ allowed_operations: [], current_operations: {}, is_unique: false, is_protected: false }),
  secret: () => ({ other_config: {} }),
}

export function dumpDatabase(lab: LabState): DbDump {
  const tables = new Map<string, Map<string, Record<string, string>>>()
  const secrets = new Map<string, Record<string, string>>()
  for (const [cls, table] of lab.db.tables) {
    if (NOT_IN_DB.has(cls)) continue
    const rows = new Map<string, Record<string, string>>()
    tables.set(cls, rows)
    if (EPHEMERAL.has(cls)) continue
    for (const [ref, row] of table) {
      const changed = String(lab.db.lastChange(cls, ref))
      const out: Record<string, string> = { __ctime: changed, __mtime: changed }
      for (const [field, value] of Object.entries(row)) out[columnOf(cls, field)] = marshal(value)
      if (cls === 'VTPM') {
        const secret = `OpaqueRef:${randomUUID()}`
        secrets.set(secret, {
          uuid: randomUUID(),
          value: lab.vtpmContents.get(ref) ?? '',
          other_config: '()',
        })
        out.contents = secret
      }
      rows.set(ref, out)
    }
  }
  const secretTable = tables.get('secret') ?? new Map()
  for (const [ref, row] of secrets) secretTable.set(ref, row)
  tables.set('secret', secretTable)
  return { ...schemaVersion(lab.profile), generation: lab.db.generation, tables }
}

export interface RestoredDatabase {
  tables: Map<string, Map<string, Row>>
  vtpmContents: Map<string, string>
  generation: number
  /** The backup's master: the host this lab host becomes. */
  master: string
}

/** Typed rows of the classes the lab serves, checked and prepared for this host. */
export function prepareRestore(lab: LabState, dump: DbDump, thisHost: string): RestoredDatabase {
  const version = schemaVersion(lab.profile)
  if (dump.major !== version.major || dump.minor !== version.minor)
    throw new XapiFailure('RESTORE_INCOMPATIBLE_VERSION', [])
  const tables = new Map<string, Map<string, Row>>()
  for (const cls of lab.db.classes) {
    if (EPHEMERAL.has(cls) || NOT_IN_DB.has(cls)) continue
    const typed = new Map<string, Row>()
    for (const [ref, row] of dump.tables.get(cls) ?? []) typed.set(ref, typedRow(lab.db, cls, row))
    tables.set(cls, typed)
  }
  const vtpmContents = new Map<string, string>()
  for (const [ref, row] of tables.get('VTPM') ?? []) {
    const secret = tables.get('secret')?.get(String(row.contents))
    vtpmContents.set(ref, String(secret?.value ?? ''))
    delete row.contents
  }
  tables.set('secret', new Map())
  const master = forThisHost(lab, tables, thisHost)
  return { tables, vtpmContents, generation: dump.generation, master }
}

function typedRow(db: Database, cls: string, row: Record<string, string>): Row {
  const template = TEMPLATES[cls]?.() ?? {}
  const sample = db.table(cls).values().next().value as Row | undefined
  const out: Record<string, unknown> = {}
  for (const [column, text] of Object.entries(row)) {
    const field = fieldOf(column)
    out[field] = unmarshal(text, field in template ? template[field] : sample?.[field])
  }
  return out as Row
}

function forThisHost(lab: LabState, tables: Map<string, Map<string, Row>>, thisHost: string): string {
  const table = (cls: string): Map<string, Row> => tables.get(cls) ?? new Map<string, Row>()
  const pool = [...table('pool').values()][0]
  const master = String(pool?.master ?? NULL)
  const masterRow = table('host').get(master)
  if (masterRow === undefined)
    throw new XapiFailure('INTERNAL_ERROR', [`the backup's pool master ${master} is not in its host table`])
  for (const [ref] of [...table('host')].filter(([r]) => r !== master)) {
    for (const cls of ['PIF', 'PBD'])
      for (const [r, row] of table(cls)) if (row.host === ref) table(cls).delete(r)
    for (const [r, row] of table('VM'))
      if (row.is_control_domain === true && row.resident_on === ref) table('VM').delete(r)
    table('host').delete(ref)
  }
  const here = lab.db.get('host', thisHost)
  Object.assign(masterRow, { uuid: here.uuid, address: here.address, hostname: here.hostname })
  const dom0 = [...table('VM').values()].find((r) => r.is_control_domain === true && r.resident_on === master)
  if (dom0 !== undefined) dom0.uuid = lab.db.get('VM', String(here.control_domain)).uuid
  rewritePifs(lab, table('PIF'), master, thisHost)
  return master
}

/** The backup master's PIFs take this host's MACs by device name, and its management flag. */
function rewritePifs(lab: LabState, pifs: Map<string, Row>, master: string, thisHost: string): void {
  const mine = lab.db.find('PIF', (r) => r.host === thisHost)
  const byDevice = new Map(mine.filter(([, r]) => r.physical === true).map(([, r]) => [String(r.device), r]))
  const mgmt = mine.find(([, r]) => r.management === true)?.[1].device
  let foundMgmt = false
  const devices: string[] = []
  for (const row of [...pifs.values()].filter((r) => r.host === master)) {
    const device = String(row.device)
    devices.push(device)
    row.management = device === mgmt
    if (row.management === true) foundMgmt = true
    if (row.physical !== true) continue
    const current = byDevice.get(device)
    if (current === undefined) throw new XapiFailure('RESTORE_TARGET_MISSING_DEVICE', [device])
    row.MAC = current.MAC
  }
  if (!foundMgmt && mgmt !== undefined) throw new XapiFailure('RESTORE_TARGET_MGMT_IF_NOT_IN_BACKUP', devices)
}

/** Puts a prepared backup in place of the database (the caller then restarts the toolstack). */
export function applyRestore(lab: LabState, restored: RestoredDatabase): void {
  lab.db.replace(restored.tables, restored.generation)
  lab.vtpmContents.clear()
  for (const [ref, contents] of restored.vtpmContents) lab.vtpmContents.set(ref, contents)
  // VDIs whose data is not on the SR any more are `missing`, as an SR scan marks them.
  for (const [ref, row] of lab.db.table('VDI')) {
    const missing = row.type !== 'cbt_metadata' && !lab.disks.has(ref)
    if (row.missing !== missing) lab.db.update('VDI', ref, { missing })
  }
}
