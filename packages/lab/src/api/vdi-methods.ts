// VDI methods with SM semantics: create, snapshot, clone, destroy, data_destroy, CBT, list_changed_blocks,
// get_nbd_info, resize. Errors as xapi raises them (VDI_IN_USE, OPERATION_NOT_ALLOWED, SR_FULL…).
import { setTimeout as delay } from 'node:timers/promises'
import { XapiFailure } from '../db/failure.js'
import { NULL, vdiDefaults, xapiDate } from '../db/schema.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'
import { assertRoom, refreshSr } from './sr-space.js'

const REQUIRED = ['SR', 'virtual_size', 'type', 'sharable', 'read_only', 'other_config']

export async function createVdi(lab: LabState, args: Record<string, unknown>): Promise<string> {
  for (const field of REQUIRED) {
    if (!(field in args))
      throw new XapiFailure('INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${field}")`])
  }
  if (args.type === 'cbt_metadata') throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [NULL, 'cbt_metadata'])
  const sr = String(args.SR)
  const srRow = lab.db.get('SR', sr)
  const size = Number(args.virtual_size)
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new XapiFailure('INVALID_VALUE', ['virtual_size', String(args.virtual_size)])
  assertRoom(lab, sr, size)
  const { sm_config, ...rest } = args
  const ref = lab.db.create('VDI', { ...vdiDefaults(), ...rest, virtual_size: size, VBDs: [], snapshots: [] })
  lab.db.update('VDI', ref, {
    location: lab.db.get('VDI', ref).uuid,
    sm_config: { ...(vdiDefaults().sm_config as object), ...(sm_config as object | undefined) },
  })
  await lab.disks.create(ref, size, sr)
  lab.db.update('SR', sr, { VDIs: [...(srRow.VDIs as string[]), ref] })
  refreshSr(lab, sr)
  return ref
}

/** VDI.snapshot / VDI.clone: a new VDI over a frozen copy of the source's data. */
export async function copyVdi(lab: LabState, vdi: string, kind: 'snapshot' | 'clone'): Promise<string> {
  const src = lab.db.get('VDI', vdi)
  if (src.type === 'cbt_metadata') throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata'])
  if (src.sharable === true && kind === 'snapshot') throw new XapiFailure('VDI_IS_SHARABLE', [vdi])
  const copied = [
    'name_label',
    'name_description',
    'type',
    'sharable',
    'other_config',
    'xenstore_data',
    'on_boot',
    'allow_caching',
    'tags',
  ]
  const fields = Object.fromEntries(copied.map((k) => [k, structuredClone(src[k])]))
  const ref = lab.db.create('VDI', {
    ...vdiDefaults(),
    ...fields,
    SR: src.SR,
    virtual_size: src.virtual_size,
    physical_utilisation: src.physical_utilisation,
    is_a_snapshot: kind === 'snapshot',
    snapshot_of: kind === 'snapshot' ? vdi : NULL,
    snapshot_time: kind === 'snapshot' ? xapiDate() : src.snapshot_time,
    cbt_enabled: kind === 'snapshot' && src.cbt_enabled === true,
  })
  lab.db.update('VDI', ref, { location: lab.db.get('VDI', ref).uuid })
  await lab.disks.branch(vdi, ref)
  if (kind === 'snapshot') {
    lab.cbt.snapshot(vdi, ref, Number(src.virtual_size))
    lab.db.update('VDI', vdi, { snapshots: [...(src.snapshots as string[]), ref] })
  }
  const sr = lab.db.get('SR', String(src.SR))
  lab.db.update('SR', String(src.SR), { VDIs: [...(sr.VDIs as string[]), ref] })
  refreshSr(lab, String(src.SR))
  return ref
}

function attached(lab: LabState, vdi: string): boolean {
  return (lab.db.get('VDI', vdi).VBDs as string[]).some(
    (vbd) => lab.db.has('VBD', vbd) && lab.db.get('VBD', vbd).currently_attached === true,
  )
}

export async function destroyVdi(lab: LabState, vdi: string): Promise<void> {
  const row = lab.db.get('VDI', vdi)
  if (attached(lab, vdi)) throw new XapiFailure('VDI_IN_USE', [vdi, 'destroy'])
  for (const vbd of row.VBDs as string[]) {
    if (!lab.db.has('VBD', vbd)) continue
    const vm = String(lab.db.get('VBD', vbd).VM)
    if (lab.db.has('VM', vm))
      lab.db.update('VM', vm, { VBDs: (lab.db.get('VM', vm).VBDs as string[]).filter((v) => v !== vbd) })
    lab.db.delete('VBD', vbd)
  }
  const of = String(row.snapshot_of)
  if (lab.db.has('VDI', of))
    lab.db.update('VDI', of, {
      snapshots: (lab.db.get('VDI', of).snapshots as string[]).filter((s) => s !== vdi),
    })
  for (const [ref] of lab.db.find('VDI', (r) => r.snapshot_of === vdi))
    lab.db.update('VDI', ref, { snapshot_of: NULL })
  const sr = String(row.SR)
  if (lab.db.has('SR', sr))
    lab.db.update('SR', sr, { VDIs: (lab.db.get('SR', sr).VDIs as string[]).filter((v) => v !== vdi) })
  if (lab.disks.has(vdi)) await lab.disks.destroy(vdi)
  lab.cbt.drop(vdi)
  lab.db.delete('VDI', vdi)
  refreshSr(lab, sr)
}

async function dataDestroy(lab: LabState, vdi: string): Promise<void> {
  const row = lab.db.get('VDI', vdi)
  if (row.type === 'cbt_metadata') return
  if (row.is_a_snapshot !== true)
    throw new XapiFailure('OPERATION_NOT_ALLOWED', [`VDI is not a snapshot: ${vdi}`])
  if (row.cbt_enabled !== true) throw new XapiFailure('VDI_NO_CBT_METADATA', [vdi])
  // xapi waits up to 4 s for every VBD of the VDI to be unplugged and destroyed.
  for (const deadline = Date.now() + 4000; (lab.db.get('VDI', vdi).VBDs as string[]).length > 0;) {
    if (Date.now() >= deadline) throw new XapiFailure('VDI_IN_USE', [vdi, 'data_destroy'])
    await delay(50)
  }
  await lab.disks.destroy(vdi)
  lab.db.update('VDI', vdi, { type: 'cbt_metadata', physical_utilisation: 0 })
  refreshSr(lab, String(row.SR))
}

function nbdInfo(lab: LabState, ctxSession: string, vdi: string): unknown[] {
  const row = lab.db.get('VDI', vdi)
  if (row.type === 'cbt_metadata') throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata'])
  if (lab.nbd === undefined) return []
  const out = []
  for (const [, pbd] of lab.db.find('PBD', (p) => p.SR === row.SR && p.currently_attached === true)) {
    for (const [, pif] of lab.db.find('PIF', (p) => p.host === pbd.host && p.currently_attached === true)) {
      const purpose = lab.db.get('network', String(pif.network)).purpose as string[]
      if (!purpose.includes('nbd') && !purpose.includes('insecure_nbd')) continue
      if (pif.IP === '') continue
      out.push({
        exportname: `/${row.uuid}?session_id=${ctxSession}`,
        address: pif.IP,
        port: lab.nbd.port,
        cert: purpose.includes('nbd') ? lab.nbd.cert : '',
        subject: lab.nbd.subject,
      })
    }
  }
  return out
}

export function registerVdiMethods(d: Dispatcher, lab: LabState): void {
  const ref = (v: unknown): string => String(v)
  const step = () => delay(lab.stepMs)
  d.register('VDI.create', {
    params: 1,
    handler: (_c, [args]) => createVdi(lab, args as Record<string, unknown>),
  })
  d.register('VDI.snapshot', {
    params: 2,
    optional: 1,
    handler: async (_c, [v]) => (await step(), copyVdi(lab, ref(v), 'snapshot')),
  })
  d.register('VDI.clone', {
    params: 2,
    optional: 1,
    handler: async (_c, [v]) => (await step(), copyVdi(lab, ref(v), 'clone')),
  })
  d.register('VDI.destroy', { params: 1, handler: async (_c, [v]) => (await destroyVdi(lab, ref(v)), '') })
  d.register('VDI.data_destroy', {
    params: 1,
    handler: async (_c, [v]) => (await dataDestroy(lab, ref(v)), ''),
  })
  d.register('VDI.enable_cbt', {
    params: 1,
    handler: (_c, [v]) => {
      const row = lab.db.get('VDI', ref(v))
      if (row.is_a_snapshot === true)
        throw new XapiFailure('OPERATION_NOT_ALLOWED', [`VDI is a snapshot: ${ref(v)}`])
      if (!['user', 'system'].includes(String(row.type)))
        throw new XapiFailure('VDI_INCOMPATIBLE_TYPE', [ref(v), String(row.type)])
      const [[, pool] = []] = lab.db.find('pool', () => true)
      if ((pool?.restrictions as Record<string, string> | undefined)?.restrict_cbt === 'true') {
        throw new XapiFailure('LICENCE_RESTRICTION', ['CBT'])
      }
      lab.cbt.enable(ref(v), Number(row.virtual_size))
      if (row.cbt_enabled !== true) lab.db.update('VDI', ref(v), { cbt_enabled: true })
      return ''
    },
  })
  d.register('VDI.disable_cbt', {
    params: 1,
    handler: (_c, [v]) => {
      if (lab.db.get('VDI', ref(v)).is_a_snapshot === true)
        throw new XapiFailure('OPERATION_NOT_ALLOWED', [`VDI is a snapshot: ${ref(v)}`])
      lab.cbt.disable(ref(v))
      lab.db.update('VDI', ref(v), { cbt_enabled: false })
      return ''
    },
  })
  d.register('VDI.list_changed_blocks', {
    params: 2,
    handler: (_c, [from, to]) => {
      for (const v of [ref(from), ref(to)])
        if (attached(lab, v)) throw new XapiFailure('VDI_IN_USE', [v, 'list_changed_blocks'])
      return lab.cbt.changed(ref(from), ref(to), Number(lab.db.get('VDI', ref(to)).virtual_size))
    },
  })
  d.register('VDI.get_nbd_info', { params: 1, handler: (c, [v]) => nbdInfo(lab, c.session, ref(v)) })
  d.register('VDI.resize', {
    params: 2,
    handler: async (_c, [v, size]) => {
      await lab.disks.resize(ref(v), Number(size))
      lab.db.update('VDI', ref(v), { virtual_size: Number(size) })
      return ''
    },
  })
}
