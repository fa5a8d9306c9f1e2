// `strata restore disk --to-vdi VDI_UUID --pool URL ... --differential` against the lab: a backup, guest
// writes, then the disk rewritten in place where it differs from the point (CBT while the backup's
// snapshot exists), printed with what was compared and rewritten; the VDI then equals the point as
// `restore disk --to FILE` writes it. And its usage errors and refusals.
import { readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

const MiB = 1024 * 1024

describe('restore disk --differential, against the lab', () => {
  let lab: LabPool
  let scratch: Scratch
  let repo: string
  let jobFile: string
  let vdi: string
  let vdiUuid: string

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'debugfs', 'openssl']) requireBinary(tool)
    scratch = await scratchDir('strata-restore-disk-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'app-01', power: 'Halted', tags: ['prod'], disks: [32, 8] }],
    })
    repo = scratch.path('repo')
    await Repository.create(new LocalStore(repo), { chunkSize: 512 * 1024 })
    jobFile = scratch.path('job.json')
    const job = {
      id: 'daily',
      pools: [{ id: 'lab', url: lab.url, user: lab.user, fingerprint: lab.fingerprint }],
      vms: { tags: ['prod'] },
      repositories: [{ name: 'local', location: repo }],
      schedules: [{ id: 'daily', retention: { keepLast: 5 } }],
    }
    await writeFile(jobFile, JSON.stringify(job))
    process.env.STRATA_XAPI_PASSWORD = lab.password
    vdi = lab.guest.disks(lab.ref('VM', 'app-01'))[0]!
    vdiUuid = String(lab.state.db.get('VDI', vdi).uuid)
  })
  afterAll(async () => {
    delete process.env.STRATA_XAPI_PASSWORD
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const pool = () => ['--pool', lab.url, '--fingerprint', lab.fingerprint]
  const backup = async (): Promise<string> => {
    const run = await runCli(['backup', 'run', jobFile, '--data-dir', scratch.path('data'), '--json'])
    expect(JSON.parse(run.out)).toMatchObject({ status: 'success' })
    const points = JSON.parse((await runCli(['repo', 'snapshots', '--repo', repo, '--json'])).out) as {
      ref: string
    }[]
    return points.at(-1)!.ref
  }

  it('rewrites only what changed, prints the figures, and leaves the VDI equal to the point', async () => {
    const point = await backup()
    await lab.guest.write(vdi, 3 * MiB + 777, randomBytes(100_000))
    const args = ['restore', 'disk', '--repo', repo, '--point', point, '--disk', '0', '--to-vdi', vdiUuid]
    const human = await runCli([...args, ...pool(), '--differential'])
    expect([human.code, human.err]).toEqual([
      0,
      expect.stringContaining('compared 32.0 MiB (cbt), rewrote 2.0 MiB'),
    ])
    expect(human.out).toMatch(
      new RegExp(
        `rewrote 2\\.0 MiB of VDI ${vdiUuid} \\(disk 0 of ${point}\\), found by CBT: 32\\.0 MiB compared`,
      ),
    )

    await lab.guest.write(vdi, 20 * MiB, randomBytes(4096))
    const json = await runCli([...args, ...pool(), '--differential', '--json'])
    expect(JSON.parse(json.out)).toMatchObject({
      point,
      disk: 0,
      vdiUuid,
      path: 'cbt',
      comparedBytes: 32 * MiB,
      readBytes: 0,
      rewrittenBytes: 4 * MiB, // CBT names the blocks the first restore wrote too
    })
    const file = scratch.path('point.raw')
    await runCli(['restore', 'disk', '--repo', repo, '--point', point, '--disk', '0', '--to', file])
    expect((await lab.readDisk(vdi)).equals(await readFile(file))).toBe(true)
  })

  it('refuses bad combinations and a VDI that is not there, naming it', async () => {
    const base = ['restore', 'disk', '--repo', repo, '--vm', 'app-01', '--disk', '0']
    const noFlag = await runCli([...base, '--to-vdi', vdiUuid, ...pool()])
    expect([noFlag.code, noFlag.err]).toEqual([2, expect.stringContaining('--differential')])
    const both = await runCli([...base, '--to', scratch.path('x.raw'), '--to-vdi', vdiUuid, '--differential'])
    expect([both.code, both.err]).toEqual([2, expect.stringContaining('--to FILE or --to-vdi')])
    const noPool = await runCli([...base, '--to-vdi', vdiUuid, '--differential'])
    expect([noPool.code, noPool.err]).toEqual([2, expect.stringContaining('--pool')])
    const missing = '00000000-0000-4000-8000-000000000000'
    const gone = await runCli([...base, '--to-vdi', missing, ...pool(), '--differential'])
    expect([gone.code, gone.err]).toEqual([1, expect.stringContaining(`[VDI_NOT_FOUND] VDI ${missing}`)])
  })
})
