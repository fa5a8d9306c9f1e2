// Lab-only guest activity over the wire: files and random blocks written through JSON-RPC reach the
// disk and CBT like the in-process Guest calls do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiClient, isXapiError } from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { scratchDir } from '@strata/core/testing'
import { PARTITION_OFFSET } from './disks/ext4-image.js'

async function debugfsCat(disk: Buffer, path: string): Promise<string> {
  await using dir = await scratchDir()
  writeFileSync(dir.path('fs.img'), disk.subarray(PARTITION_OFFSET))
  return execFileSync('debugfs', ['-R', `cat ${path}`, dir.path('fs.img')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
}

describe('lab.guest_* calls', () => {
  let lab: LabPool
  let xapi: XapiClient

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('debugfs')
    lab = await LabPool.start({ nbd: false, vms: [{ name: 'vm', power: 'Running', disks: [8] }] })
    xapi = new XapiClient(lab.connection)
  })
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  it('writes a file into the ext4 partition and random blocks into a disk', async () => {
    const vm = lab.ref('VM', 'vm')
    const [vdi] = lab.guest.disks(vm)
    const before = await lab.readDisk(vdi!)
    await xapi.call('lab.guest_write_file', [vm, 0, '/srv/demo/hello.txt', 'hello from the guest\n'])
    expect(await debugfsCat(await lab.readDisk(vdi!), '/srv/demo/hello.txt')).toBe('hello from the guest\n')
    const offsets = await xapi.call<string[]>('lab.guest_write_random_blocks', [vm, 0, 3])
    expect(offsets).toHaveLength(3)
    const after = await lab.readDisk(vdi!)
    expect(
      offsets.some(
        (o) =>
          !after.subarray(Number(o), Number(o) + 65536).equals(before.subarray(Number(o), Number(o) + 65536)),
      ),
    ).toBe(true)
    const error = await xapi.call('lab.guest_write_file', [vm, 5, '/x', 'y']).catch((e: unknown) => e)
    expect(isXapiError(error, 'VALUE_NOT_SUPPORTED')).toBe(true)
  })
})
