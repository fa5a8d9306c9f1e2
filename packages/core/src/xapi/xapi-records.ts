// Small XAPI reads and the retry that every cleanup needs: a VDI stays VDI_IN_USE for a moment after an
// NBD connection or an HTTP transfer ends (dom0 still holds it), so undo calls wait that out.
import { retry } from '../shared/index.js'
import type { XapiRecord } from './object-cache.js'
import { NULL_REF, type Ref, type XapiClient } from './xapi-client.js'
import { isXapiError } from './xapi-error.js'

export async function record(
  xapi: XapiClient,
  cls: string,
  ref: Ref,
  signal?: AbortSignal,
): Promise<XapiRecord> {
  return xapi.call<XapiRecord>(`${cls}.get_record`, [ref], signal)
}

export async function refByUuid(
  xapi: XapiClient,
  cls: string,
  uuid: string,
  signal?: AbortSignal,
): Promise<Ref> {
  return xapi.call<Ref>(`${cls}.get_by_uuid`, [uuid], signal)
}

/** The ref of an object if it still exists, else undefined. */
export async function findByUuid(
  xapi: XapiClient,
  cls: string,
  uuid: string,
  signal?: AbortSignal,
): Promise<Ref | undefined> {
  try {
    return await refByUuid(xapi, cls, uuid, signal)
  } catch (error) {
    if (isXapiError(error, 'UUID_INVALID') || isXapiError(error, 'HANDLE_INVALID')) return undefined
    throw error
  }
}

export interface VbdRecord {
  readonly vbd: Ref
  readonly record: XapiRecord
}

/**
 * The records of VBDs just listed (a VM's `VBDs`, a VDI's), in order, each that is gone by the time it is
 * read (HANDLE_INVALID) passed over: a VBD that no longer exists attaches nothing. Listing then reading is
 * a race every caller loses now and then: dom0 VBDs appear and vanish while xapi-nbd, an export or an
 * import holds a VDI (xapi.md, "dom0 VBDs": clients must tolerate them transiently), and another client
 * may unplug a CD or destroy a VM meanwhile. Every list-then-read of VBDs goes through here.
 */
export async function vbdRecordsOf(
  xapi: XapiClient,
  vbds: readonly Ref[],
  signal?: AbortSignal,
): Promise<VbdRecord[]> {
  const out: VbdRecord[] = []
  for (const vbd of vbds) {
    try {
      out.push({ vbd, record: await record(xapi, 'VBD', vbd, signal) })
    } catch (error) {
      if (!isXapiError(error, 'HANDLE_INVALID')) throw error
    }
  }
  return out
}

/** The VM's VBDs with their records, those that vanished meanwhile left out (vbdRecordsOf). */
export async function vmVbdRecords(xapi: XapiClient, vm: Ref, signal?: AbortSignal): Promise<VbdRecord[]> {
  return vbdRecordsOf(xapi, await xapi.call<Ref[]>('VM.get_VBDs', [vm], signal), signal)
}

export interface VmDisk {
  readonly vbd: Ref
  readonly vbdRecord: XapiRecord
  readonly vdi: Ref
  readonly vdiRecord: XapiRecord
}

/** Disk VBDs of a VM with their VDIs, in userdevice order (CDs and empty drives left out). */
export async function vmDisks(xapi: XapiClient, vm: Ref, signal?: AbortSignal): Promise<VmDisk[]> {
  const out: VmDisk[] = []
  for (const { vbd, record: vbdRecord } of await vmVbdRecords(xapi, vm, signal)) {
    if (!isDiskVbd(vbdRecord)) continue
    const vdi = vbdRecord.VDI as Ref
    out.push({ vbd, vbdRecord, vdi, vdiRecord: await record(xapi, 'VDI', vdi, signal) })
  }
  return out.sort((a, b) => Number(a.vbdRecord.userdevice) - Number(b.vbdRecord.userdevice))
}

/** The VDIs of the VM's disks, in VBD order (the VDI refs of vmDisks, without reading the VDIs). */
export async function vmDiskVdis(xapi: XapiClient, vm: Ref, signal?: AbortSignal): Promise<Ref[]> {
  return (await vmVbdRecords(xapi, vm, signal))
    .filter((v) => isDiskVbd(v.record))
    .map((v) => v.record.VDI as Ref)
}

/** A VBD that plugs a disk: of type Disk, not empty (CDs and empty drives are not). */
export function isDiskVbd(vbd: XapiRecord): boolean {
  return vbd.type === 'Disk' && vbd.VDI !== NULL_REF && vbd.empty !== true
}

/** How long a call waits out a VDI that dom0 still holds: about 15 s in all. */
const IN_USE_RETRY = { retries: 10, baseDelayMs: 300, maxDelayMs: 2000 }

/** Runs an undo call, waiting out VDI_IN_USE / OTHER_OPERATION_IN_PROGRESS; HANDLE_INVALID = already gone. */
export async function undoCall(fn: () => Promise<unknown>, signal?: AbortSignal): Promise<void> {
  try {
    await retry(fn, {
      ...IN_USE_RETRY,
      shouldRetry: (e) => isXapiError(e, 'VDI_IN_USE') || isXapiError(e, 'OTHER_OPERATION_IN_PROGRESS'),
      signal,
    })
  } catch (error) {
    if (!isXapiError(error, 'HANDLE_INVALID')) throw error
  }
}

/**
 * Runs a call that a VDI still attached to dom0 refuses with VDI_IN_USE, waiting that out: right after a
 * run's NBD connections end, xapi-nbd still holds their VBDs for a moment, and the next run's
 * `list_changed_blocks` on that snapshot would fail (and fall back to a slower path) for nothing.
 */
export function waitOutInUse<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  return retry(fn, { ...IN_USE_RETRY, shouldRetry: (e) => isXapiError(e, 'VDI_IN_USE'), signal })
}
