// `strata xo list`, `xo restore-disk` and `xo restore-vm` on XO remotes built from the format
// description: in a directory (clear, and encrypted with the key from STRATA_XO_KEY_FILE) and in S3
// (radosgw); disks compared byte for byte (qemu-img compare for VHD output), VMs rebuilt on a lab pool
// from a delta point and from an XVA.
import { execFileSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
import { buildScenario, dirSink, storeSink, VM, type Scenario } from '@strata/core/xo/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

const qemuImg = requireBinary('qemu-img')
requireBinary('radosgw')
const KEY = 'an XO key of exactly 32 chars!!!'

interface ListedPoint {
  id: string
  vm: string
  timestamp: number
  mode: string
  jobId: string
  disks: { index: number; size: number }[]
  usable: boolean
  reason?: string
}

let scratch: Scratch
let clear: Scenario
let encrypted: Scenario

beforeAll(async () => {
  scratch = await scratchDir('strata-xo-cli-')
  clear = await buildScenario(dirSink(scratch.path('clear')))
  encrypted = await buildScenario(dirSink(scratch.path('encrypted')), {
    encryption: 'chacha20-poly1305',
    key: KEY,
  })
}, 120_000)
afterAll(async () => {
  delete process.env.STRATA_XO_KEY
  delete process.env.STRATA_XO_KEY_FILE
  await scratch?.[Symbol.asyncDispose]()
})

const deltaPoint = (s: Scenario) => [...s.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
const fullPoint = (s: Scenario) => [...s.points].find(([, p]) => p.mode === 'full')!

describe('strata xo list', () => {
  it('prints the restore points as JSON, each with id, vm, timestamp, mode, jobId and disks', async () => {
    const { code, out } = await runCli(['xo', 'list', '--remote', scratch.path('clear'), '--json'])
    expect(code).toBe(0)
    const points = JSON.parse(out) as ListedPoint[]
    expect(points.map((p) => p.id).sort()).toEqual([...clear.points.keys()].sort())
    for (const p of points) {
      const expected = clear.points.get(p.id)!
      expect(p).toMatchObject({ vm: expected.vm, timestamp: expected.timestamp, mode: expected.mode })
      expect(p.usable).toBe(expected.unusable === undefined)
      if (expected.unusable !== undefined) expect(p.reason).toMatch(expected.unusable)
      else expect(p.disks.map((d) => d.size)).toEqual(expected.disks.map((d) => d.length))
    }
  })

  it('prints VMs and points for humans, the unusable ones with the reason', async () => {
    const { code, out } = await runCli(['xo', 'list', '--remote', scratch.path('clear')])
    expect(code).toBe(0)
    expect(out).toMatch(new RegExp(`VM web ${VM.delta}: 3 restore point\\(s\\)`))
    expect(out).toMatch(/UNUSABLE: .*another alias/)
    expect(out).toMatch(/note: an XO merge was interrupted/)
  })

  it('refuses a remote directory that does not exist', async () => {
    expect(await runCli(['xo', 'list', '--remote', scratch.path('absent')])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_NOT_FOUND.*not a directory/),
    })
  })

  it('needs the key of an encrypted remote, from the environment only', async () => {
    const remote = scratch.path('encrypted')
    expect(await runCli(['xo', 'list', '--remote', remote])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_KEY_REQUIRED/),
    })
    expect(await runCli(['xo', 'list', '--remote', remote, '--key', KEY])).toMatchObject({ code: 2 })
    process.env.STRATA_XO_KEY = KEY.toUpperCase()
    expect(await runCli(['xo', 'list', '--remote', remote])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_KEY_WRONG/),
    })
    delete process.env.STRATA_XO_KEY
    await writeFile(scratch.path('key'), `${KEY}\n`)
    process.env.STRATA_XO_KEY_FILE = scratch.path('key')
    const { code, out } = await runCli(['xo', 'list', '--remote', remote, '--json'])
    delete process.env.STRATA_XO_KEY_FILE
    expect(code).toBe(0)
    expect((JSON.parse(out) as ListedPoint[]).length).toBe(encrypted.points.size)
  })
})

describe('strata xo restore-disk', () => {
  it('writes a disk raw or as VHD, byte for byte, and replaces OUT only with --force', async () => {
    const [id, point] = deltaPoint(clear)
    const out = scratch.path('d1.raw')
    const args = ['xo', 'restore-disk', '--remote', scratch.path('clear'), '--backup', id, '--disk', '1']
    expect(await runCli([...args, '--to', out])).toMatchObject({ code: 0 })
    expect((await readFile(out)).equals(point.disks[1]!)).toBe(true)
    expect(await runCli([...args, '--to', out])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_TARGET_EXISTS/),
    })
    expect(await runCli([...args, '--to', out, '--force'])).toMatchObject({ code: 0 })
    await writeFile(scratch.path('d1.expected'), point.disks[1]!)
    expect(await runCli([...args, '--to', scratch.path('d1.vhd'), '--format', 'vhd'])).toMatchObject({
      code: 0,
    })
    execFileSync(qemuImg, [
      'compare',
      '-q',
      '-f',
      'raw',
      '-F',
      'vpc',
      scratch.path('d1.expected'),
      scratch.path('d1.vhd'),
    ])
  })

  it('reads an encrypted XVA, and names what is wrong with a broken point', async () => {
    const [id, point] = fullPoint(encrypted)
    process.env.STRATA_XO_KEY = KEY
    try {
      const out = scratch.path('xva1.raw')
      const base = ['xo', 'restore-disk', '--remote', scratch.path('encrypted')]
      expect(await runCli([...base, '--backup', id, '--disk', '1', '--to', out])).toMatchObject({ code: 0 })
      expect((await readFile(out)).equals(point.disks[1]!)).toBe(true)
      const [bad] = [...encrypted.points].find(([, p]) => p.failsWith !== undefined)!
      const failed = await runCli([
        ...base,
        '--backup',
        bad,
        '--disk',
        '0',
        '--to',
        scratch.path('bad.raw'),
        '--json',
      ])
      expect(failed.code).toBe(1)
      expect(JSON.parse(failed.out)).toMatchObject({
        error: {
          code: 'XO_AUTH_FAILED',
          message: expect.stringMatching(/^disk 0 \(broken 0\) of .*: block 1 of .*failed authentication/),
        },
      })
    } finally {
      delete process.env.STRATA_XO_KEY
    }
  })
})

describe('strata xo on an S3 remote', () => {
  it('lists and restores a disk', async () => {
    const server = useS3Server()
    const location = s3Location(server, await createTestBucket(server), 'xo')
    const store = await openStore(location, s3Env(server))
    const scenario = await buildScenario(storeSink(store))
    await store.close?.()
    Object.assign(process.env, s3Env(server))
    const listed = await runCli(['xo', 'list', '--remote', location, '--json'])
    expect(listed.code).toBe(0)
    expect((JSON.parse(listed.out) as ListedPoint[]).length).toBe(scenario.points.size)
    const [id, point] = deltaPoint(scenario)
    const out = scratch.path('s3-d0.raw')
    expect(
      await runCli(['xo', 'restore-disk', '--remote', location, '--backup', id, '--disk', '0', '--to', out]),
    ).toMatchObject({ code: 0 })
    expect((await readFile(out)).equals(point.disks[0]!)).toBe(true)
  }, 120_000)
})

describe('strata xo restore-vm', () => {
  let lab: LabPool
  beforeAll(async () => {
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: [] })
  })
  afterAll(async () => {
    await lab?.close()
  })

  const restore = async (id: string) => {
    const pool = [
      '--pool',
      lab.url,
      '--fingerprint',
      lab.fingerprint,
      '--user',
      'root',
      '--password',
      lab.password,
    ]
    const { code, out, err } = await runCli([
      'xo',
      'restore-vm',
      '--remote',
      scratch.path('clear'),
      '--backup',
      id,
      ...pool,
      '--json',
    ])
    expect(code, err).toBe(0)
    const { vmUuid } = JSON.parse(out) as { vmUuid: string }
    const vm = lab.state.db.find('VM', (r) => r.uuid === vmUuid)[0]![0]
    return { vm, disks: lab.guest.disks(vm) }
  }

  it('rebuilds a VM from a delta point: its disks in order, its VIF, startable', async () => {
    const [id, point] = deltaPoint(clear)
    const { vm, disks } = await restore(id)
    expect(lab.state.db.get('VM', vm)).toMatchObject({ name_label: 'web', blocked_operations: {} })
    expect(disks).toHaveLength(2)
    for (const [i, vdi] of disks.entries())
      expect((await lab.readDisk(vdi)).equals(point.disks[i]!), `disk ${i}`).toBe(true)
    expect(lab.state.db.get('VM', vm).VIFs).toHaveLength(1)
  })

  it('removes what it created when a disk fails to read', async () => {
    const [id] = [...clear.points].find(([, p]) => p.failsWith !== undefined)!
    // dom0's VBDs come and go with each transfer: only the VMs' own count.
    const count = (cls: string) =>
      lab.state.db.find(
        cls,
        (r) => cls !== 'VBD' || lab.state.db.get('VM', String(r.VM)).is_control_domain !== true,
      ).length
    const before = { vms: count('VM'), vdis: count('VDI'), vbds: count('VBD') }
    const pool = [
      '--pool',
      lab.url,
      '--fingerprint',
      lab.fingerprint,
      '--user',
      'root',
      '--password',
      lab.password,
    ]
    const failed = await runCli([
      'xo',
      'restore-vm',
      '--remote',
      scratch.path('clear'),
      '--backup',
      id,
      ...pool,
    ])
    expect(failed).toMatchObject({
      code: 1,
      err: expect.stringMatching(/XO_VHD_DIRECTORY_INVALID.*block 1 of/),
    })
    expect({ vms: count('VM'), vdis: count('VDI'), vbds: count('VBD') }).toEqual(before)
  })

  it('imports the XVA of a full point', async () => {
    const [id, point] = fullPoint(clear)
    const { vm, disks } = await restore(id)
    expect(lab.state.db.get('VM', vm)).toMatchObject({ name_label: 'files' })
    expect(disks).toHaveLength(2)
    for (const [i, vdi] of disks.entries())
      expect((await lab.readDisk(vdi)).equals(point.disks[i]!), `disk ${i}`).toBe(true)
  })
})
