// What an admin picks on a pool before a backup or a restore: its SRs, guest VMs and networks, by name
// and uuid; and an SR named by either, refused with the list of the pool's SRs when unknown.
import { StrataError } from '../shared/index.js'
import { NULL_REF, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'

export interface SrInfo {
  readonly uuid: string
  readonly name: string
  readonly type: string
  /** 'iso' for ISO libraries, which hold no VM disks. */
  readonly contentType: string
  readonly size: number
  readonly used: number
  readonly shared: boolean
  /** The pool's default SR (where a restore goes when none is named). */
  readonly isDefault: boolean
}

export interface VmInfo {
  readonly uuid: string
  readonly name: string
  readonly powerState: string
  readonly tags: readonly string[]
}

export interface NetworkInfo {
  readonly uuid: string
  readonly name: string
  readonly bridge: string
}

export class PoolObjectError extends StrataError {}

export async function listSrs(xapi: XapiClient, signal?: AbortSignal): Promise<SrInfo[]> {
  const all = await xapi.call<Record<Ref, XapiRecord>>('SR.get_all_records', [], signal)
  const pools = await xapi.call<Record<Ref, XapiRecord>>('pool.get_all_records', [], signal)
  const defaults = new Set(Object.values(pools).map((p) => String(p.default_SR ?? NULL_REF)))
  return Object.entries(all)
    .map(([ref, r]) => ({
      uuid: String(r.uuid),
      name: String(r.name_label ?? ''),
      type: String(r.type ?? ''),
      contentType: String(r.content_type ?? ''),
      size: Number(r.physical_size ?? 0),
      used: Number(r.physical_utilisation ?? 0),
      shared: r.shared === true,
      isDefault: defaults.has(ref),
    }))
    .sort(byName)
}

export async function listVms(xapi: XapiClient, signal?: AbortSignal): Promise<VmInfo[]> {
  const all = await xapi.call<Record<Ref, XapiRecord>>('VM.get_all_records', [], signal)
  return Object.values(all)
    .filter((r) => r.is_a_template !== true && r.is_a_snapshot !== true && r.is_control_domain !== true)
    .map((r) => ({
      uuid: String(r.uuid),
      name: String(r.name_label ?? ''),
      powerState: String(r.power_state ?? ''),
      tags: Array.isArray(r.tags) ? r.tags.map(String) : [],
    }))
    .sort(byName)
}

export async function listNetworks(xapi: XapiClient, signal?: AbortSignal): Promise<NetworkInfo[]> {
  const all = await xapi.call<Record<Ref, XapiRecord>>('network.get_all_records', [], signal)
  return Object.values(all)
    .map((r) => ({ uuid: String(r.uuid), name: String(r.name_label ?? ''), bridge: String(r.bridge ?? '') }))
    .sort(byName)
}

/** An SR by uuid or name; an unknown or ambiguous one is refused with the SRs that can hold disks. */
export async function resolveSr(xapi: XapiClient, text: string, signal?: AbortSignal): Promise<SrInfo> {
  const srs = await listSrs(xapi, signal)
  const byUuid = srs.filter((s) => s.uuid === text)
  const found = byUuid.length > 0 ? byUuid : srs.filter((s) => s.name === text)
  if (found.length === 1) return found[0]!
  const usable = srs.filter((s) => s.contentType !== 'iso')
  const list = usable.map((s) => `'${s.name}' (${s.uuid})`).join(', ') || 'none'
  const why = found.length === 0 ? `no SR '${text}'` : `${found.length} SRs are named '${text}'`
  throw new PoolObjectError('SR_NOT_FOUND', `${why} on pool ${xapi.url.host}; its SRs: ${list}`)
}

function byName<T extends { name: string; uuid: string }>(a: T, b: T): number {
  return a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid)
}
