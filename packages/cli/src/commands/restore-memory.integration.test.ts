// Backups with memory on the command line, against the lab: a job with `settings.withMemory` writes
// points that `repo snapshots` shows 'with memory'; `restore vm` creates the VM Suspended on its memory
// image (`--start` resumes it, with the guest's memory of the checkpoint), `--without-memory` halted.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

describe('backups with memory on the command line, against the lab', () => {
  let lab: LabPool
  let scratch: Scratch
  let repo: string
  let data: string
  let jobFile: string

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'debugfs', 'openssl']) requireBinary(tool)
    scratch = await scratchDir('strata-memory-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      bootDelayMs: 50,
      memoryImageBytes: 2 * 1024 * 1024,
      vms: [{ name: 'app-01', power: 'Running', tags: ['prod'], disks: [8] }],
    })
    repo = scratch.path('repo')
    data = scratch.path('data')
    await Repository.create(new LocalStore(repo), { chunkSize: 512 * 1024 })
    jobFile = scratch.path('memory.json')
    const job = {
      id: 'memory',
      name: 'With memory',
      pools: [{ id: 'lab', name: 'Lab pool', url: lab.url, user: lab.user, fingerprint: lab.fingerprint }],
      vms: { tags: ['prod'] },
      repositories: [{ name: 'local', location: repo }],
      schedules: [{ id: 'hourly', retention: { keepLast: 5 } }],
      settings: { withMemory: true },
    }
    await writeFile(jobFile, JSON.stringify(job))
    process.env.STRATA_XAPI_PASSWORD = lab.password
    await new Promise((r) => setTimeout(r, 300)) // the guest boots
  })
  afterAll(async () => {
    delete process.env.STRATA_XAPI_PASSWORD
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const pool = () => ['--pool', lab.url, '--fingerprint', lab.fingerprint]
  const vmByName = (prefix: string) =>
    lab.state.db.find('VM', (r) => String(r.name_label).startsWith(prefix) && r.is_a_snapshot !== true)

  it("lists the point 'with memory' and restores the VM Suspended, resumed, or halted", async () => {
    const app = lab.ref('VM', 'app-01')
    lab.state.agents.writeVmData(app, { session: 'open' })
    const run = await runCli(['backup', 'run', jobFile, '--data-dir', data, '--json'])
    expect(JSON.parse(run.out)).toMatchObject({ status: 'success', vms: [{ name: 'app-01' }] })
    const points = JSON.parse((await runCli(['repo', 'snapshots', '--repo', repo, '--json'])).out)
    expect(points).toEqual([expect.objectContaining({ vmName: 'app-01', kind: 'full', withMemory: true })])
    const human = await runCli(['repo', 'snapshots', '--repo', repo, '--long'])
    expect(human.out).toMatch(/ app-01 +memory +hourly +full, with memory +/)
    expect(human.out).toMatch(/memory image \(memory\) 2\.0 MiB/)

    const base = ['restore', 'vm', '--repo', repo, '--vm', 'app-01', ...pool()]
    const suspended = await runCli([...base, '--name-suffix', ' (suspended)'])
    expect([suspended.code, suspended.err]).toEqual([0, expect.any(String)])
    expect(suspended.out).toMatch(/as VM 'app-01 \(suspended\)' \(\S+\), suspended with its memory, in /)
    expect(vmByName('app-01 (suspended)')[0]?.[1].power_state).toBe('Suspended')

    const resumed = await runCli([...base, '--name-suffix', ' (resumed)', '--start'])
    expect(resumed.out).toMatch(/, resumed from its memory, in /)
    const [ref, row] = vmByName('app-01 (resumed)')[0]!
    expect(row.power_state).toBe('Running')
    expect(lab.resumedMemory(ref)?.header).toMatchObject({ vmData: { session: 'open' } })

    const halted = await runCli([...base, '--name-suffix', ' (halted)', '--without-memory', '--json'])
    expect(JSON.parse(halted.out)).toMatchObject({ withMemory: false, started: false })
    expect(vmByName('app-01 (halted)')[0]?.[1]).toMatchObject({
      power_state: 'Halted',
      suspend_VDI: 'OpaqueRef:NULL',
    })
  })
})
