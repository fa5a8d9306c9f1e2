// ova.xml, the first entry of an XVA: an XML-RPC struct {version, objects: [{class, id: "Ref:n",
// snapshot}]} where every ref inside a snapshot is rewritten to an included object's id or NULL.
import { decodeXmlRpcValue, encodeXmlRpcValue, type XmlRpcValue } from '@strata/core/xapi'
import type { LabState } from '../api/lab-state.js'
import { NULL, EPOCH } from '../db/schema.js'

export interface OvaObject {
  class: string
  id: string
  snapshot: Record<string, XmlRpcValue>
}

export interface Ova {
  version: Record<string, XmlRpcValue>
  objects: OvaObject[]
}

/** The objects of a VM export, in xapi's order: VM, VBDs, VIFs, networks, VDIs, SRs. */
export function buildOva(lab: LabState, vm: string): { ova: Ova; vdis: [string, string][] } {
  const { db } = lab
  const ids = new Map<string, string>()
  const objects: { cls: string; ref: string }[] = []
  const add = (cls: string, ref: string): void => {
    if (ref === NULL || ids.has(ref)) return
    ids.set(ref, `Ref:${ids.size}`)
    objects.push({ cls, ref })
  }
  const row = db.get('VM', vm)
  add('VM', vm)
  const disks = (row.VBDs as string[]).filter(
    (v) => db.get('VBD', v).type === 'Disk' && db.get('VBD', v).VDI !== NULL,
  )
  for (const vbd of row.VBDs as string[]) add('VBD', vbd)
  for (const vif of row.VIFs as string[]) add('VIF', vif)
  for (const vif of row.VIFs as string[]) add('network', String(db.get('VIF', vif).network))
  for (const vbd of disks) add('VDI', String(db.get('VBD', vbd).VDI))
  for (const vbd of disks) add('SR', String(db.get('VDI', String(db.get('VBD', vbd).VDI)).SR))
  const rewrite = (value: unknown): XmlRpcValue => {
    if (typeof value === 'string') return value.startsWith('OpaqueRef:') ? (ids.get(value) ?? NULL) : value
    if (Array.isArray(value)) return value.map(rewrite).filter((v) => v !== NULL)
    if (value !== null && typeof value === 'object')
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v)]))
    return value as XmlRpcValue
  }
  const snapshotOf = (cls: string, ref: string): Record<string, XmlRpcValue> => {
    const r = structuredClone(db.get(cls, ref)) as Record<string, unknown>
    if (cls === 'VM')
      Object.assign(r, {
        power_state: 'Halted',
        is_a_snapshot: false,
        snapshot_of: NULL,
        snapshots: [],
        snapshot_time: EPOCH,
        parent: NULL,
        current_operations: {},
        allowed_operations: [],
        resident_on: NULL,
      })
    if (cls === 'VBD' || cls === 'VIF') r.currently_attached = false
    if (cls === 'SR') r.PBDs = []
    return rewrite(r) as Record<string, XmlRpcValue>
  }
  const ova: Ova = {
    version: {
      hostname: 'lab-host-1',
      date: '2026-01-01',
      product_version: '8.3.0',
      product_brand: 'XCP-ng',
      build_number: 'lab',
      xapi_major: 25,
      xapi_minor: 6,
      export_vsn: 2,
    },
    objects: objects.map(({ cls, ref }) => ({
      class: cls,
      id: ids.get(ref)!,
      snapshot: snapshotOf(cls, ref),
    })),
  }
  const vdis = objects.filter((o) => o.cls === 'VDI').map((o) => [ids.get(o.ref)!, o.ref] as [string, string])
  vdis.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) // xapi sorts by the id string: Ref:10 < Ref:2
  return { ova, vdis }
}

export function encodeOva(ova: Ova): Buffer {
  return Buffer.from(encodeXmlRpcValue(ova as unknown as XmlRpcValue))
}

export function decodeOva(text: string): Ova {
  const value = decodeXmlRpcValue(text) as unknown as Ova
  if (!Array.isArray(value?.objects)) throw new Error('ova.xml has no objects')
  return value
}
