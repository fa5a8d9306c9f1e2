// VTPMs (UEFI guests with a TPM): create, destroy, contents. The contents are a secret kept out of the
// record, as in xapi (a `secret` object behind the VTPM); snapshots copy them.
import { XapiFailure } from '../db/failure.js'
import { NULL } from '../db/schema.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'

const s = (v: unknown): string => String(v)

export function createVtpm(lab: LabState, vm: string, isUnique: boolean, contents = ''): string {
  const [[, pool] = []] = lab.db.find('pool', () => true)
  if ((pool?.restrictions as Record<string, string> | undefined)?.restrict_vtpm === 'true') {
    throw new XapiFailure('LICENCE_RESTRICTION', ['VTPM'])
  }
  const row = lab.db.get('VM', vm)
  const ref = lab.db.create('VTPM', {
    allowed_operations: ['destroy'],
    current_operations: {},
    VM: vm,
    backend: NULL,
    persistence_backend: 'xapi',
    is_unique: isUnique,
    is_protected: false,
  })
  lab.vtpmContents.set(ref, contents)
  lab.db.update('VM', vm, { VTPMs: [...(row.VTPMs as string[]), ref] })
  return ref
}

export function destroyVtpm(lab: LabState, vtpm: string): void {
  const vm = s(lab.db.get('VTPM', vtpm).VM)
  if (lab.db.has('VM', vm))
    lab.db.update('VM', vm, { VTPMs: (lab.db.get('VM', vm).VTPMs as string[]).filter((v) => v !== vtpm) })
  lab.vtpmContents.delete(vtpm)
  lab.db.delete('VTPM', vtpm)
}

export function registerVtpmMethods(d: Dispatcher, lab: LabState): void {
  const halted = (vm: string): void => {
    const state = s(lab.db.get('VM', vm).power_state)
    if (state !== 'Halted') throw new XapiFailure('VM_BAD_POWER_STATE', [vm, 'halted', state.toLowerCase()])
  }
  d.register('VTPM.create', {
    params: 2,
    handler: (_c, [vm, isUnique]) => {
      halted(s(vm))
      return createVtpm(lab, s(vm), isUnique === true || isUnique === '1')
    },
  })
  d.register('VTPM.destroy', {
    params: 1,
    handler: (_c, [vtpm]) => {
      halted(s(lab.db.get('VTPM', s(vtpm)).VM))
      destroyVtpm(lab, s(vtpm))
      return ''
    },
  })
  d.register('VTPM.get_contents', {
    params: 1,
    handler: (_c, [vtpm]) => (lab.db.get('VTPM', s(vtpm)), lab.vtpmContents.get(s(vtpm)) ?? ''),
  })
  d.register('VTPM.set_contents', {
    params: 2,
    handler: (_c, [vtpm, contents]) => {
      lab.db.get('VTPM', s(vtpm))
      lab.vtpmContents.set(s(vtpm), s(contents))
      return ''
    },
  })
}
