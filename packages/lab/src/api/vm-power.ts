// VM power operations: start (boots the guest, see guest-agent.ts), clean and hard shutdown, pause,
// suspend (the memory image goes to a suspend VDI) and resume (the image is read back, checked and
// recorded, then its VDI destroyed, as xapi does). A suspended VM keeps its devices attached; VM.start
// of a suspended VM is VM_BAD_POWER_STATE, as on xapi: it is resumed with VM.resume.
import { XapiFailure } from '../db/failure.js'
import { NULL } from '../db/schema.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'
import { loadMemory, saveMemory } from './suspend-image.js'
import { destroyVdi } from './vdi-methods.js'
import { withVmOperation } from './vm-copy.js'

const lower = (s: unknown): string => String(s).toLowerCase()

export function expectPower(lab: LabState, vm: string, allowed: string[]): void {
  const state = String(lab.db.get('VM', vm).power_state)
  if (!allowed.includes(state))
    throw new XapiFailure('VM_BAD_POWER_STATE', [vm, allowed.map(lower).join(', '), lower(state)])
}

export function setPower(lab: LabState, vm: string, state: string, host: string): void {
  const running = state === 'Running' || state === 'Paused'
  const attached = running || state === 'Suspended'
  lab.db.update('VM', vm, { power_state: state, resident_on: running ? host : NULL, domid: running ? 1 : -1 })
  for (const vbd of lab.db.get('VM', vm).VBDs as string[])
    if (lab.db.get('VBD', vbd).empty !== true) lab.db.update('VBD', vbd, { currently_attached: attached })
  for (const vif of lab.db.get('VM', vm).VIFs as string[])
    lab.db.update('VIF', vif, { currently_attached: attached })
}

/** Snapshots and templates cannot run (VM_IS_SNAPSHOT before VM_IS_TEMPLATE: snapshots are templates). */
function assertRunnable(lab: LabState, vm: string, op: string): void {
  const row = lab.db.get('VM', vm)
  if (row.is_a_snapshot === true) throw new XapiFailure('VM_IS_SNAPSHOT', [vm, op])
  if (row.is_a_template === true) throw new XapiFailure('VM_IS_TEMPLATE', [vm, op])
}

/**
 * Drops a suspended VM's memory image (hard shutdown, or after a resume). Like xapi, a VDI that cannot
 * go yet (a dom0 VBD of a transfer that just ended still holds it) does not fail the operation: it is
 * destroyed once free.
 */
async function dropSuspendVdi(lab: LabState, vm: string): Promise<void> {
  const vdi = String(lab.db.get('VM', vm).suspend_VDI)
  lab.db.update('VM', vm, { suspend_VDI: NULL })
  if (vdi === NULL || !lab.db.has('VDI', vdi)) return
  try {
    await destroyVdi(lab, vdi)
  } catch {
    setTimeout(() => void destroyVdi(lab, vdi).catch(() => undefined), lab.dom0DetachMs + 100).unref()
  }
}

export function registerPowerMethods(d: Dispatcher, lab: LabState): void {
  const s = (v: unknown): string => String(v)
  const op = (
    name: string,
    params: number,
    run: (vm: string, host: string, args: unknown[]) => Promise<void>,
  ): void =>
    d.register(`VM.${name}`, {
      params,
      handler: (ctx, [vm, ...args]) =>
        withVmOperation(
          lab,
          ctx,
          s(vm),
          name,
          async () => (await run(s(vm), lab.hostRef(ctx.host), args), ''),
        ),
    })
  op('start', 3, async (vm, host, [paused]) => {
    assertRunnable(lab, vm, 'start')
    expectPower(lab, vm, ['Halted'])
    setPower(lab, vm, paused === true ? 'Paused' : 'Running', host)
    if (paused !== true) lab.agents.boot(vm)
  })
  op('clean_shutdown', 1, async (vm, host) => {
    expectPower(lab, vm, ['Running'])
    lab.agents.halt(vm)
    setPower(lab, vm, 'Halted', host)
  })
  op('hard_shutdown', 1, async (vm, host) => {
    expectPower(lab, vm, ['Running', 'Paused', 'Suspended'])
    lab.agents.halt(vm)
    if (lab.db.get('VM', vm).power_state === 'Suspended') await dropSuspendVdi(lab, vm)
    setPower(lab, vm, 'Halted', host)
  })
  op('pause', 1, async (vm, host) => {
    expectPower(lab, vm, ['Running'])
    setPower(lab, vm, 'Paused', host)
  })
  op('unpause', 1, async (vm, host) => {
    expectPower(lab, vm, ['Paused'])
    setPower(lab, vm, 'Running', host)
    if (lab.agents.state(vm) !== 'running') lab.agents.boot(vm)
  })
  op('suspend', 1, async (vm, host) => {
    expectPower(lab, vm, ['Running'])
    const image = await saveMemory(lab, vm, false)
    lab.agents.halt(vm, true)
    lab.db.update('VM', vm, { suspend_VDI: image })
    setPower(lab, vm, 'Suspended', host)
  })
  op('resume', 3, async (vm, host, [paused]) => {
    assertRunnable(lab, vm, 'resume')
    expectPower(lab, vm, ['Suspended'])
    const memory = await loadMemory(lab, vm)
    lab.agents.resumed.set(vm, memory)
    await dropSuspendVdi(lab, vm)
    setPower(lab, vm, paused === true ? 'Paused' : 'Running', host)
    if (paused !== true) lab.agents.boot(vm, memory.header)
  })
}
