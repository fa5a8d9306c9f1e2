// SR space, as on a thin (ext) SR: a VDI is created only if the SR's free physical space can hold its
// whole virtual size (else SR_FULL [requested, maximum]); the blocks written later count against the
// SR's physical_size, and a write that needs a block the SR has no room for fails like a full disk
// (imports then end in VDI_IO_ERROR, as vhd-tool's ENOSPC does). physical_utilisation and
// virtual_allocation are refreshed after the operations that change them and by SR.scan, not at every
// guest write (xapi, too, updates them on scans).
import { XapiFailure } from '../db/failure.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'

/** Free physical space of an SR, in bytes. */
export function srFree(lab: LabState, sr: string): number {
  return Number(lab.db.get('SR', sr).physical_size) - lab.disks.groupBytes(sr)
}

/** SR_FULL when a new VDI of `size` bytes would not fit in the SR's free space. */
export function assertRoom(lab: LabState, sr: string, size: number): void {
  const free = srFree(lab, sr)
  if (size > free) throw new XapiFailure('SR_FULL', [String(size), String(Math.max(0, free))])
}

/** Writes the SR's utilisation (and that of each of its VDIs) into the records. */
export function refreshSr(lab: LabState, sr: string): void {
  if (!lab.db.has('SR', sr)) return
  let virtual = 0
  for (const vdi of lab.db.get('SR', sr).VDIs as string[]) {
    if (!lab.db.has('VDI', vdi)) continue
    const row = lab.db.get('VDI', vdi)
    virtual += Number(row.virtual_size)
    const used = lab.disks.has(vdi) ? lab.disks.leafBytes(vdi) : 0
    if (row.physical_utilisation !== used) lab.db.update('VDI', vdi, { physical_utilisation: used })
  }
  const row = lab.db.get('SR', sr)
  const physical = lab.disks.groupBytes(sr)
  if (row.physical_utilisation !== physical || row.virtual_allocation !== virtual)
    lab.db.update('SR', sr, { physical_utilisation: physical, virtual_allocation: virtual })
}

/** The SR of a VDI, refreshed (after an import or a guest's writes). */
export function refreshSrOf(lab: LabState, vdi: string): void {
  if (lab.db.has('VDI', vdi)) refreshSr(lab, String(lab.db.get('VDI', vdi).SR))
}

/**
 * A lab-only change of an SR's size (a full SR on demand): below the space already used, every write
 * that needs a new block fails and every VDI.create gets SR_FULL.
 */
export function setPhysicalSize(lab: LabState, sr: string, bytes: number): void {
  lab.db.get('SR', sr)
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new XapiFailure('INVALID_VALUE', ['physical_size', String(bytes)])
  lab.db.update('SR', sr, { physical_size: bytes })
  refreshSr(lab, sr)
}

export function registerSrMethods(d: Dispatcher, lab: LabState): void {
  d.register('SR.scan', {
    params: 1,
    handler: (_c, [sr]) => (lab.db.get('SR', String(sr)), refreshSr(lab, String(sr)), ''),
  })
  // (session, SR ref, bytes): lab-only; real SRs change size only with their storage.
  d.register('lab.set_sr_physical_size', {
    params: 2,
    handler: (_c, [sr, bytes]) => (setPhysicalSize(lab, String(sr), Number(bytes)), ''),
  })
}
