// ova.xml, the first entry of an XVA: an XML-RPC struct {version, objects: [{class, id: 'Ref:n',
// snapshot}]} in which every reference names another object's id. A disk is a VDI object; its data
// follows in the tar as `Ref:n/NNNNNNNN` entries of 1 MiB.
import { decodeXmlRpcValue } from '../../xapi/codec/xmlrpc-value.js'
import { XoError } from '../errors.js'
import type { XapiLike } from './metadata.js'

/** Bytes of one XVA data entry: entry n holds the disk's bytes from n MiB. */
export const XVA_CHUNK = 1024 * 1024

export interface XvaDiskInfo {
  /** 'Ref:n': the prefix of the disk's entries. */
  readonly id: string
  readonly size: number
  readonly vdi: XapiLike
  readonly vbd: XapiLike | undefined
}

export interface Ova {
  readonly vm: XapiLike
  /** Attached disks by userdevice, then the others. */
  readonly disks: readonly XvaDiskInfo[]
}

export function parseOva(text: string, what: string): Ova {
  let value: unknown
  try {
    value = decodeXmlRpcValue(text)
  } catch (error) {
    throw new XoError('XO_XVA_INVALID', `${what}: ova.xml does not parse`, { cause: error })
  }
  const objects = (value as { objects?: unknown } | null)?.objects
  if (!Array.isArray(objects)) throw new XoError('XO_XVA_INVALID', `${what}: ova.xml lists no objects`)
  const of = (cls: string) =>
    objects.filter(
      (o): o is { class: string; id: string; snapshot: XapiLike } =>
        typeof o === 'object' &&
        o !== null &&
        o.class === cls &&
        typeof o.id === 'string' &&
        typeof o.snapshot === 'object',
    )
  const vm = of('VM')[0]
  if (vm === undefined) throw new XoError('XO_XVA_INVALID', `${what}: ova.xml holds no VM`)
  const vbds = of('VBD').map((o) => o.snapshot)
  const disks = of('VDI').map((o) => {
    const size = Number(o.snapshot.virtual_size)
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new XoError('XO_XVA_INVALID', `${what}: VDI ${o.id} has no valid virtual_size`)
    }
    return { id: o.id, size, vdi: o.snapshot, vbd: vbds.find((v) => v.VDI === o.id) }
  })
  const order = (d: XvaDiskInfo): number =>
    d.vbd === undefined
      ? Infinity
      : Number.isFinite(Number(d.vbd.userdevice))
        ? Number(d.vbd.userdevice)
        : 1e9
  return { vm: vm.snapshot, disks: disks.sort((a, b) => order(a) - order(b)) }
}
