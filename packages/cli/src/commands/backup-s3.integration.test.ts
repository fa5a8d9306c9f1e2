// `strata backup run` inline into a fresh S3 bucket (the shared Ceph radosgw), twice with guest activity
// in between, then `strata restore disk` and `strata restore vm` from S3, compared byte for byte with
// the VM's disk.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core/repository'
import { openStore } from '@strata/core/storage'
import {
  createTestBucket,
  requireBinary,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { main } from '../main.js'

describe('backup run into an S3 repository', () => {
  let lab: LabPool
  let scratch: Scratch
  let location: string

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    const s3 = useS3Server()
    location = s3Location(s3, await createTestBucket(s3), 'repo')
    // The worker inherits this environment: the S3 keys and the pool password reach it that way.
    Object.assign(process.env, s3Env(s3))
    const store = await openStore(location, process.env)
    await Repository.create(store, { chunkSize: 512 * 1024 })
    await store.close?.()
    scratch = await scratchDir('strata-s3-job-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'app', power: 'Running', tags: ['prod'], disks: [8, 4] }],
    })
    process.env.STRATA_XAPI_PASSWORD = lab.password
  })
  afterAll(async () => {
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('runs a full then a delta backup and restores the disk and the VM from S3', async () => {
    const pinned = ['--pool', lab.url, '--fingerprint', lab.fingerprint]
    const args = [...pinned, '--user', 'root', '--vm', 'app', '--repo', location]
    const data = ['--data-dir', scratch.path('data')]
    const first = JSON.parse(await cli(['backup', 'run', ...args, ...data, '--json'])) as RunJson
    expect(first).toMatchObject({ status: 'success', vms: [{ name: 'app', status: 'success' }] })
    expect(first.vms[0]!.result.full).toBe(true)
    const vdi = lab.guest.disks(lab.ref('VM', 'app'))[0]!
    await lab.guest.writeFile(vdi, '/srv/app/new.txt', 'changed between runs\n')
    const second = JSON.parse(await cli(['backup', 'run', ...args, ...data, '--json'])) as RunJson
    expect(second.vms[0]!.result.full).toBe(false)
    expect(second.vms[0]!.result.bytesRead).toBeLessThan(first.vms[0]!.result.bytesRead)
    const point = second.vms[0]!.result.points[0]!.pointId
    const out = scratch.path('app-0.raw')
    await cli(['restore', 'disk', '--repo', location, '--point', point, '--disk', '0', '--to', out])
    expect((await readFile(out)).equals(await lab.readDisk(vdi))).toBe(true)
    const pool = [...pinned, '--user', 'root', '--password', lab.password]
    const restored = JSON.parse(
      await cli(['restore', 'vm', '--repo', location, '--point', point, ...pool, '--json']),
    ) as { vmUuid: string }
    const copy = lab.state.db.find('VM', (r) => r.uuid === restored.vmUuid)[0]![0]
    const disks = lab.guest.disks(copy)
    expect(disks).toHaveLength(2)
    expect((await lab.readDisk(disks[0]!)).equals(await lab.readDisk(vdi))).toBe(true)
    const tree = await cli(['backup', 'logs', second.runId, ...data])
    expect(tree).toMatch(/VM app {2}success in .*delta, read/)
    // Nothing left on the pool but the snapshot kept as the next delta's base.
    await new Promise((r) => setTimeout(r, 200))
    const dom0 = lab.ref('VM', 'Control domain on host: lab-host-1')
    expect(lab.state.db.find('VBD', (r) => r.VM === dom0)).toEqual([])
    const vm = lab.ref('VM', 'app')
    expect(lab.state.db.find('VM', (r) => r.is_a_snapshot === true && r.snapshot_of === vm)).toHaveLength(1)
  })
})

interface RunJson {
  runId: string
  status: string
  vms: { name: string; result: { full: boolean; bytesRead: number; points: { pointId: string }[] } }[]
}

async function cli(argv: string[]): Promise<string> {
  let out = ''
  const sink = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as never
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink(() => {}) })
  if (code !== 0) throw new Error(`strata ${argv.join(' ')} exited with ${code}: ${out}`)
  return out
}
