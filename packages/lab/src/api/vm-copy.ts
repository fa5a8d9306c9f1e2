// VM.snapshot, VM.checkpoint, VM.clone and VM.copy: a new VM whose VBDs point to copies of the source's
// disks (snapshots or clones), with the record rules of xapi.md §2.2 (template flag, copied
// other_config and MACs, snapshot_of/snapshots/parent links, ignore_vdis).
import { setTimeout as delay } from 'node:timers/promises'
import { randomUUID } from 'node:crypto'
import { XapiFailure } from '../db/failure.js'
import { NULL, vbdDefaults, vifDefaults, xapiDate } from '../db/schema.js'
import type { CallContext } from './dispatcher.js'
import type { LabState } from './lab-state.js'
import { saveMemory } from './suspend-image.js'
import { copyVdi, destroyVdi } from './vdi-methods.js'
import { createVtpm } from './vtpm-methods.js'

export type CopyKind = 'snapshot' | 'checkpoint' | 'clone' | 'copy'

/** Runs `op` with `current_operations[task] = op` on the VM, refusing concurrent operations. */
export async function withVmOperation<T>(
  lab: LabState,
  ctx: CallContext,
  vm: string,
  op: string,
  run: () => Promise<T>,
): Promise<T> {
  const row = lab.db.get('VM', vm)
  const blocked = (row.blocked_operations as Record<string, string>)[op]
  if (blocked !== undefined) throw new XapiFailure('OPERATION_BLOCKED', [vm, blocked])
  const current = Object.entries(row.current_operations as Record<string, string>)[0]
  if (current !== undefined)
    throw new XapiFailure('OTHER_OPERATION_IN_PROGRESS', ['VM', vm, current[1], current[0]])
  const key = ctx.task?.ref ?? `OpaqueRef:${randomUUID()}`
  lab.db.update('VM', vm, { current_operations: { [key]: op } })
  try {
    return await run()
  } finally {
    if (lab.db.has('VM', vm)) {
      const ops = { ...(lab.db.get('VM', vm).current_operations as Record<string, string>) }
      delete ops[key]
      lab.db.update('VM', vm, { current_operations: ops })
    }
  }
}

export async function copyVm(
  lab: LabState,
  ctx: CallContext,
  vm: string,
  name: string,
  kind: CopyKind,
  ignore: string[] = [],
): Promise<string> {
  const src = lab.db.get('VM', vm)
  if (src.is_a_snapshot === true && (kind === 'snapshot' || kind === 'checkpoint'))
    throw new XapiFailure('VM_IS_SNAPSHOT', [vm, kind])
  if ((kind === 'clone' || kind === 'copy') && src.power_state === 'Running') {
    throw new XapiFailure('VM_BAD_POWER_STATE', [vm, 'halted, suspended', 'running'])
  }
  if (src.is_control_domain === true)
    throw new XapiFailure('OPERATION_NOT_ALLOWED', ['cannot copy the control domain'])
  return withVmOperation(lab, ctx, vm, kind, async () => {
    for (const p of [0.2, 0.5]) {
      ctx.task?.checkCancelled()
      ctx.task?.setProgress(p)
      await delay(lab.stepMs)
    }
    ctx.task?.checkCancelled()
    const snapshot = kind === 'snapshot' || kind === 'checkpoint'
    const memory = await copyMemory(lab, vm, kind)
    const copy = lab.db.create('VM', {
      ...structuredClone(src),
      uuid: undefined,
      name_label: name,
      is_a_snapshot: snapshot,
      snapshot_of: snapshot ? vm : NULL,
      is_a_template: snapshot ? true : src.is_a_template,
      snapshot_time: snapshot ? xapiDate() : src.snapshot_time,
      snapshot_info: snapshot
        ? { 'disk-snapshot-type': 'crash_consistent', 'power-state-at-snapshot': src.power_state }
        : {},
      power_state: memory === NULL ? 'Halted' : 'Suspended',
      suspend_VDI: memory,
      guest_metrics: NULL,
      metrics: NULL,
      resident_on: NULL,
      domid: -1,
      blocked_operations: snapshot ? {} : src.blocked_operations,
      current_operations: {},
      snapshots: [],
      children: [],
      VBDs: [],
      VIFs: [],
      VTPMs: [],
      consoles: [],
      parent: snapshot ? src.parent : vm,
      other_config: snapshot ? src.other_config : { ...(src.other_config as object), mac_seed: randomUUID() },
    } as never)
    await copyDevices(lab, vm, copy, kind, new Set(ignore))
    if (snapshot) lab.db.update('VM', vm, { parent: copy, snapshots: [...(src.snapshots as string[]), copy] })
    ctx.task?.setProgress(0.9)
    return copy
  })
}

/**
 * The copy's memory: a checkpoint of a running VM saves it (its snapshot is Suspended), a checkpoint,
 * clone or copy of a suspended VM copies its suspend VDI; snapshots and halted VMs have none.
 */
async function copyMemory(lab: LabState, vm: string, kind: CopyKind): Promise<string> {
  const src = lab.db.get('VM', vm)
  if (kind === 'checkpoint' && src.power_state === 'Running') return saveMemory(lab, vm, true)
  const image = String(src.suspend_VDI)
  if (kind === 'snapshot' || src.power_state !== 'Suspended' || image === NULL || !lab.db.has('VDI', image))
    return NULL
  return copyVdi(lab, image, kind === 'checkpoint' ? 'snapshot' : 'clone')
}

async function copyDevices(
  lab: LabState,
  from: string,
  to: string,
  kind: CopyKind,
  ignore: Set<string>,
): Promise<void> {
  const vbds: string[] = []
  for (const vbd of lab.db.get('VM', from).VBDs as string[]) {
    const row = lab.db.get('VBD', vbd)
    const vdi = String(row.VDI)
    if (row.type === 'Disk' && ignore.has(vdi)) continue
    let target = vdi
    if (row.type === 'Disk' && vdi !== NULL)
      target = await copyVdi(lab, vdi, kind === 'snapshot' || kind === 'checkpoint' ? 'snapshot' : 'clone')
    const ref = lab.db.create('VBD', {
      ...vbdDefaults(),
      ...structuredClone(row),
      uuid: undefined,
      VM: to,
      VDI: target,
      currently_attached: false,
      current_operations: {},
      other_config: row.type === 'Disk' ? { ...(row.other_config as object), owner: '' } : row.other_config,
    } as never)
    if (target !== NULL)
      lab.db.update('VDI', target, { VBDs: [...(lab.db.get('VDI', target).VBDs as string[]), ref] })
    vbds.push(ref)
  }
  const vifs: string[] = []
  for (const vif of lab.db.get('VM', from).VIFs as string[]) {
    const row = lab.db.get('VIF', vif)
    const keepMac = kind === 'snapshot' || kind === 'checkpoint'
    const ref = lab.db.create('VIF', {
      ...vifDefaults(),
      ...structuredClone(row),
      uuid: undefined,
      VM: to,
      currently_attached: false,
      MAC: keepMac ? row.MAC : randomMac(),
    } as never)
    const net = String(row.network)
    lab.db.update('network', net, { VIFs: [...(lab.db.get('network', net).VIFs as string[]), ref] })
    vifs.push(ref)
  }
  lab.db.update('VM', to, { VBDs: vbds, VIFs: vifs, VTPMs: [] })
  for (const vtpm of lab.db.get('VM', from).VTPMs as string[]) {
    createVtpm(lab, to, lab.db.get('VTPM', vtpm).is_unique === true, lab.vtpmContents.get(vtpm) ?? '')
  }
}

export function randomMac(): string {
  const bytes = [...crypto.getRandomValues(new Uint8Array(6))]
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02 // locally administered, unicast
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/**
 * VM.revert(snapshot): the VM stops, each of its disks is replaced by a clone of the snapshot's disk on
 * the same userdevice (the old disk is destroyed), and the VM takes the snapshot's power state.
 */
export async function revertVm(lab: LabState, ctx: CallContext, snapshot: string): Promise<void> {
  const snap = lab.db.get('VM', snapshot)
  if (snap.is_a_snapshot !== true)
    throw new XapiFailure('OPERATION_NOT_ALLOWED', [`VM is not a snapshot: ${snapshot}`])
  const vm = String(snap.snapshot_of)
  lab.db.get('VM', vm)
  await withVmOperation(lab, ctx, vm, 'revert', async () => {
    for (const vbd of lab.db.get('VM', vm).VBDs as string[])
      lab.db.update('VBD', vbd, { currently_attached: false })
    lab.agents.halt(vm)
    const old = String(lab.db.get('VM', vm).suspend_VDI)
    lab.db.update('VM', vm, { power_state: 'Halted', resident_on: NULL, domid: -1, suspend_VDI: NULL })
    if (old !== NULL && lab.db.has('VDI', old)) await destroyVdi(lab, old)
    const byDevice = new Map<string, string>()
    for (const vbd of snap.VBDs as string[]) {
      const row = lab.db.get('VBD', vbd)
      if (row.type === 'Disk' && row.VDI !== NULL) byDevice.set(String(row.userdevice), String(row.VDI))
    }
    for (const vbd of lab.db.get('VM', vm).VBDs as string[]) {
      const row = lab.db.get('VBD', vbd)
      const source = byDevice.get(String(row.userdevice))
      if (row.type !== 'Disk' || source === undefined) continue
      const old = String(row.VDI)
      const fresh = await copyVdi(lab, source, 'clone')
      lab.db.update('VBD', vbd, { VDI: fresh })
      lab.db.update('VDI', fresh, { VBDs: [vbd], name_label: lab.db.get('VDI', old).name_label })
      lab.db.update('VDI', old, { VBDs: (lab.db.get('VDI', old).VBDs as string[]).filter((v) => v !== vbd) })
      await destroyVdi(lab, old)
    }
    // Reverting to a checkpoint brings its memory back: the VM is Suspended on a copy of the image.
    const image = String(snap.suspend_VDI)
    const suspended = snap.power_state === 'Suspended' && image !== NULL && lab.db.has('VDI', image)
    lab.db.update('VM', vm, {
      power_state: suspended ? 'Suspended' : 'Halted',
      suspend_VDI: suspended ? await copyVdi(lab, image, 'clone') : NULL,
      parent: snapshot,
    })
    if (suspended)
      for (const vbd of lab.db.get('VM', vm).VBDs as string[])
        if (lab.db.get('VBD', vbd).empty !== true) lab.db.update('VBD', vbd, { currently_attached: true })
  })
}
