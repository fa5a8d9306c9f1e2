// Lab-only methods on the wire (class `lab`, which no real pool has), so that a lab run by
// `strata lab serve` can be driven from another process: raw guest writes and faults. Each needs a
// valid session like any other call.
import type { Guest } from '../guest.js'
import { MAX_UNREACHABLE_MS, type HttpFault } from '../faults.js'
import { XapiFailure } from '../db/failure.js'
import type { Dispatcher } from './dispatcher.js'
import type { LabState } from './lab-state.js'

export interface LabControls {
  guest: Guest
  restartToolstack(downMs: number): Promise<void>
}

const s = (v: unknown): string => String(v)

export function registerLabMethods(d: Dispatcher, lab: LabState, controls: LabControls): void {
  // (session, VM ref, disk index, offset, base64 bytes): raw bytes written into a VM's disk. The file and
  // random-block variants live in guest-methods.ts.
  d.register('lab.guest_write', {
    params: 4,
    handler: async (_c, [vm, index, offset, base64]) => {
      const vdi = controls.guest.disks(s(vm))[Number(index)]
      if (vdi === undefined) throw new XapiFailure('VALUE_NOT_SUPPORTED', ['disk', s(index), 'no such disk'])
      await controls.guest.write(vdi, Number(offset), Buffer.from(s(base64), 'base64'))
      return ''
    },
  })
  d.register('lab.fail_method', {
    params: 4,
    handler: (_c, [method, code, params, times]) => {
      lab.faults.failMethod(s(method), s(code), (params as unknown[]).map(s), Number(times))
      return ''
    },
  })
  d.register('lab.fail_http', {
    params: 3,
    handler: (_c, [path, fault, times]) => {
      const f = fault as HttpFault
      if (!['redirect', 'cut', 'garbage', 'stall', 'task-failure'].includes(s(f?.kind))) {
        throw new XapiFailure('INVALID_VALUE', ['fault', JSON.stringify(fault)])
      }
      lab.faults.failHttp(
        s(path),
        {
          ...f,
          ...('afterBytes' in f ? { afterBytes: Number(f.afterBytes) } : {}),
          ...('to' in f ? { to: s(f.to) } : {}),
        },
        Number(times),
      )
      return ''
    },
  })
  d.register('lab.clear_faults', { params: 0, handler: () => (lab.faults.clear(), '') })
  d.register('lab.expire_sessions', { params: 0, handler: () => (lab.sessions.expireAll(), '') })
  // (session, 'refuse'|'hang', ms): unreachable for that long (no call can reach it to end it sooner).
  d.register('lab.set_unreachable', {
    params: 2,
    handler: (_c, [mode, ms]) => {
      if (mode !== 'refuse' && mode !== 'hang') throw new XapiFailure('INVALID_VALUE', ['mode', s(mode)])
      const forMs = Number(ms)
      if (!(forMs > 0 && forMs <= MAX_UNREACHABLE_MS))
        throw new XapiFailure('INVALID_VALUE', ['duration', s(ms)])
      // Answer first: the switch cuts this very connection.
      setTimeout(() => void lab.faults.setUnreachable(mode, forMs).catch(() => {}), 10)
      return ''
    },
  })
  d.register('lab.restart_toolstack', {
    params: 1,
    handler: (_c, [downMs]) => {
      // Answer first: the restart cuts this very connection.
      setTimeout(() => void controls.restartToolstack(Number(downMs)), 10)
      return ''
    },
  })
}
