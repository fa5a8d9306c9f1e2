// VM methods: snapshot (ignore_vdis only on 8.3), checkpoint, clone, copy, destroy, create, power
// operations, and the helpers that rebuild a VM from saved records (bios strings, devices).
import { randomUUID } from 'node:crypto'
import { XapiFailure } from '../db/failure.js'
import { NULL, vmDefaults } from '../db/schema.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'
import { copyVm, revertVm } from './vm-copy.js'
import { expectPower, registerPowerMethods } from './vm-power.js'
import { destroyVtpm } from './vtpm-methods.js'

function destroyVm(lab: LabState, vm: string): void {
  const row = lab.db.get('VM', vm)
  if (row.is_default_template === true) throw new XapiFailure('VM_CANNOT_DELETE_DEFAULT_TEMPLATE', [vm])
  const blocked = (row.blocked_operations as Record<string, string>).destroy
  if (blocked !== undefined) throw new XapiFailure('OPERATION_BLOCKED', [vm, blocked])
  expectPower(lab, vm, ['Halted', 'Suspended'])
  const current = Object.entries(row.current_operations as Record<string, string>)[0]
  if (current !== undefined)
    throw new XapiFailure('OTHER_OPERATION_IN_PROGRESS', ['VM', vm, current[1], current[0]])
  for (const vbd of row.VBDs as string[]) {
    const vdi = String(lab.db.get('VBD', vbd).VDI)
    if (lab.db.has('VDI', vdi))
      lab.db.update('VDI', vdi, { VBDs: (lab.db.get('VDI', vdi).VBDs as string[]).filter((v) => v !== vbd) })
    lab.db.delete('VBD', vbd)
  }
  for (const vif of row.VIFs as string[]) {
    const net = String(lab.db.get('VIF', vif).network)
    if (lab.db.has('network', net))
      lab.db.update('network', net, {
        VIFs: (lab.db.get('network', net).VIFs as string[]).filter((v) => v !== vif),
      })
    lab.db.delete('VIF', vif)
  }
  for (const vtpm of row.VTPMs as string[]) if (lab.db.has('VTPM', vtpm)) destroyVtpm(lab, vtpm)
  lab.agents.halt(vm)
  const of = String(row.snapshot_of)
  if (lab.db.has('VM', of)) {
    const parent = lab.db.get('VM', of)
    lab.db.update('VM', of, {
      snapshots: (parent.snapshots as string[]).filter((s) => s !== vm),
      parent: parent.parent === vm ? row.parent : parent.parent,
    })
  }
  for (const [ref] of lab.db.find('VM', (r) => r.snapshot_of === vm))
    lab.db.update('VM', ref, { snapshot_of: NULL })
  lab.db.delete('VM', vm)
}

export function registerVmMethods(d: Dispatcher, lab: LabState): void {
  const s = (v: unknown): string => String(v)
  const ignoreVdis = lab.profile !== 'xcp-ng-8.2'
  d.register('VM.snapshot', {
    params: ignoreVdis ? 3 : 2,
    optional: ignoreVdis ? 1 : 0,
    handler: (ctx, [vm, name, ignore]) =>
      copyVm(lab, ctx, s(vm), s(name), 'snapshot', (ignore as string[] | undefined) ?? []),
  })
  d.register('VM.checkpoint', {
    params: 2,
    handler: (ctx, [vm, name]) => {
      expectPower(lab, s(vm), ['Running', 'Suspended', 'Halted'])
      return copyVm(lab, ctx, s(vm), s(name), 'checkpoint')
    },
  })
  d.register('VM.clone', {
    params: 2,
    handler: (ctx, [vm, name]) => copyVm(lab, ctx, s(vm), s(name), 'clone'),
  })
  d.register('VM.copy', { params: 3, handler: (ctx, [vm, name]) => copyVm(lab, ctx, s(vm), s(name), 'copy') })
  d.register('VM.revert', {
    params: 1,
    handler: async (ctx, [snap]) => (await revertVm(lab, ctx, s(snap)), ''),
  })
  d.register('VM.destroy', { params: 1, handler: (_c, [vm]) => (destroyVm(lab, s(vm)), '') })
  d.register('VM.create', {
    params: 1,
    handler: (_c, [args]) => {
      const a = args as Record<string, unknown>
      if (!('name_label' in a))
        throw new XapiFailure('INTERNAL_ERROR', ['Server_helpers.Dispatcher_FieldNotFound("name_label")'])
      if ('bios_strings' in a)
        throw new XapiFailure('MESSAGE_PARAMETER_COUNT_MISMATCH', ['VM.create', '1', '1'])
      const other = { mac_seed: randomUUID(), ...(a.other_config as object | undefined) }
      return lab.db.create('VM', {
        ...vmDefaults(),
        ...a,
        other_config: other,
        ...createdPowerState(lab, a),
        VBDs: [],
        VIFs: [],
        VTPMs: [],
      })
    },
  })
  registerPowerMethods(d, lab)
  d.register('VM.set_bios_strings', {
    params: 2,
    handler: (_c, [vm, map]) => {
      if (Object.keys(lab.db.get('VM', s(vm)).bios_strings as object).length > 0)
        throw new XapiFailure('VM_BIOS_STRINGS_ALREADY_SET', [])
      lab.db.update('VM', s(vm), { bios_strings: map })
      return ''
    },
  })
  d.register('VM.set_memory_limits', {
    params: 5,
    handler: (_c, [vm, smin, smax, dmin, dmax]) => {
      const [a, b, c, e] = [smin, dmin, dmax, smax].map(Number) as [number, number, number, number]
      if (!(a <= b && b <= c && c <= e))
        throw new XapiFailure('MEMORY_CONSTRAINT_VIOLATION', [
          'static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max',
        ])
      lab.db.update('VM', s(vm), {
        memory_static_min: a,
        memory_dynamic_min: b,
        memory_dynamic_max: c,
        memory_static_max: e,
        memory_target: c,
      })
      return ''
    },
  })
  d.register('VM.set_ha_restart_priority', {
    params: 2,
    handler: (_c, [vm, p]) => {
      if (!['restart', 'best-effort', ''].includes(s(p)))
        throw new XapiFailure('INVALID_VALUE', ['ha_restart_priority', s(p)])
      lab.db.update('VM', s(vm), { ha_restart_priority: p })
      return ''
    },
  })
  d.register('VM.get_allowed_VBD_devices', {
    params: 1,
    handler: (_c, [vm]) => freeDevices(lab, s(vm), 'VBD', 'userdevice', 16),
  })
  d.register('VM.get_allowed_VIF_devices', {
    params: 1,
    handler: (_c, [vm]) => freeDevices(lab, s(vm), 'VIF', 'device', 7),
  })
  d.register('VM.update_allowed_operations', {
    params: 1,
    handler: (_c, [vm]) => (lab.db.touch('VM', s(vm)), ''),
  })
}

/**
 * VM.create makes Halted VMs, or (since API 1.257, for restores of suspended VMs) a Suspended one whose
 * suspend_VDI is an existing VDI; its memory is then resumed with VM.resume.
 */
function createdPowerState(lab: LabState, a: Record<string, unknown>): Record<string, unknown> {
  if (a.power_state !== 'Suspended') return { power_state: 'Halted', suspend_VDI: NULL }
  const vdi = String(a.suspend_VDI ?? NULL)
  if (vdi === NULL) throw new XapiFailure('VM_HAS_NO_SUSPEND_VDI', [NULL])
  lab.db.get('VDI', vdi)
  return { power_state: 'Suspended', suspend_VDI: vdi }
}

export function freeDevices(
  lab: LabState,
  vm: string,
  cls: 'VBD' | 'VIF',
  field: string,
  max: number,
): string[] {
  const used = new Set(
    (lab.db.get('VM', vm)[`${cls}s`] as string[]).map((r) => String(lab.db.get(cls, r)[field])),
  )
  return Array.from({ length: max }, (_, i) => String(i)).filter((d) => !used.has(d))
}
