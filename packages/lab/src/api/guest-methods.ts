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
