// Lab-only calls for guest activity over the wire (`lab.guest_*`): what a running VM would do to its
// disks, for demos and for tests that drive the lab from another process (`strata lab serve`). Real
// pools have no such methods; a client that calls them against XAPI gets MESSAGE_METHOD_UNKNOWN.
import type { Guest } from '../guest.js'
import { XapiFailure } from '../db/failure.js'
import type { Dispatcher } from './dispatcher.js'

export function registerGuestMethods(d: Dispatcher, guest: Guest): void {
  const disk = (vm: unknown, index: unknown): string => {
    const disks = guest.disks(String(vm))
    const vdi = disks[Number(index)]
    if (vdi === undefined)
      throw new XapiFailure('VALUE_NOT_SUPPORTED', ['disk', String(index), 'no such disk'])
    return vdi
  }
  // (session, VM ref, disk index, path, content): writes a file into the disk's ext4 partition.
  d.register('lab.guest_write_file', {
    params: 4,
    handler: async (_c, [vm, index, path, content]) => {
      await guest.writeFile(disk(vm, index), String(path), String(content))
      return ''
    },
  })
  // (session, VM ref, disk index, count): overwrites `count` random 64 KiB granules; returns their offsets.
  d.register('lab.guest_write_random_blocks', {
    params: 3,
    handler: async (_c, [vm, index, count]) =>
      (await guest.writeRandomBlocks(disk(vm, index), Number(count))).map(String),
  })
}

/** Lab-only reads and writes of a running VM's guest: vm-data keys, its state, its resumed memory. */
export function registerGuestAgentMethods(d: Dispatcher, guest: Guest): void {
  // (session, VM ref, key, value): the guest writes vm-data/<key> (mirrored into VM.xenstore_data).
  d.register('lab.guest_write_vm_data', {
    params: 3,
    handler: (_c, [vm, key, value]) => (guest.writeVmData(String(vm), String(key), String(value)), ''),
  })
  // (session, VM ref): 'booting', 'running', 'no bootable device' or 'halted'.
  d.register('lab.get_guest_state', { params: 1, handler: (_c, [vm]) => guest.state(String(vm)) })
  // (session, VM ref): what its last VM.resume restored: {sha256, size, vm_uuid, taken}.
  d.register('lab.get_resumed_memory', {
    params: 1,
    handler: (_c, [vm]) => {
      guest.lab.db.get('VM', String(vm))
      const m = guest.lab.agents.resumed.get(String(vm))
      if (m === undefined)
        throw new XapiFailure('VALUE_NOT_SUPPORTED', ['vm', String(vm), 'no memory image was resumed'])
      return { sha256: m.sha256, size: m.size, vm_uuid: m.header.vm, taken: m.header.taken }
    },
  })
}
