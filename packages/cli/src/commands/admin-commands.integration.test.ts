// What an admin meets on the command line, against the lab pool: a wrong pool password fails the run
// (naming the pool), the pool's SRs, VMs and networks, restore points listed by VM name with their job,
// schedule, kind and new data, a restore that the next backup leaves out, restore rates that count the
// disk, a restore that refuses to overwrite a file, and errors that say what to do next.
import { readFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { runCli } from '../testing/cli-harness.js'

const MiB = 1024 * 1024

describe('the admin on the command line, against the lab', () => {
  let lab: LabPool
  let scratch: Scratch
  let repo: string
  let data: string
  let jobFile: string
  let srUuid: string

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-admin-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [
        { name: 'web-01', power: 'Running', tags: ['prod'], disks: [32] },
        { name: 'db-01', power: 'Halted', tags: [], disks: [8] },
      ],
    })
    repo = scratch.path('repo')
    data = scratch.path('data')
    await Repository.create(new LocalStore(repo), { chunkSize: 512 * 1024 })
    jobFile = scratch.path('nightly.json')
    const job = {
      id: 'nightly',
      name: 'Nightly',
      pools: [{ id: 'lab', name: 'Lab pool', url: lab.url, user: lab.user, fingerprint: lab.fingerprint }],
      vms: { tags: ['prod'] },
      repositories: [{ name: 'local', location: repo }],
      schedules: [{ id: 'daily', retention: { keepLast: 5 } }],
    }
    await writeFile(jobFile, JSON.stringify(job))
    srUuid = String(lab.state.db.get('SR', lab.ref('SR', 'Local storage')).uuid)
    process.env.STRATA_XAPI_PASSWORD = lab.password
  })
  afterAll(async () => {
    delete process.env.STRATA_XAPI_PASSWORD
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const backup = () => runCli(['backup', 'run', jobFile, '--data-dir', data, '--json'])
  const pool = () => ['--pool', lab.url, '--fingerprint', lab.fingerprint]

  it('fails a run whose pool refuses the password, naming the pool and the reason', async () => {
    process.env.STRATA_XAPI_PASSWORD = 'not the password'
    try {
      const { code, out } = await runCli(['backup', 'run', jobFile, '--data-dir', data])
      expect(code).toBe(1)
      expect(out).toMatch(/^run \S+ of job nightly: failure in /)
      const runId = /^run (\S+)/.exec(out)![1]!
      const report = await runCli(['backup', 'logs', runId, '--text', '--data-dir', data])
      expect(report.out).toMatch(
        /Status: +failure \(POOL_UNREACHABLE: a pool could not be reached or logged into, its VMs were not backed up: pool 'Lab pool' \(https:\/\/127\.0\.0\.1:\d+\): .*SESSION_AUTHENTICATION_FAILED/,
      )
      expect(report.out).not.toContain('not the password')
      const failures = await runCli(['backup', 'logs', '--state', 'failure', '--data-dir', data, '--json'])
      expect(JSON.parse(failures.out).runs.map((r: { runId: string }) => r.runId)).toEqual([runId])
    } finally {
      process.env.STRATA_XAPI_PASSWORD = lab.password
    }
  })

  it("lists the pool's SRs, VMs and networks by name and uuid, its certificate pinned", async () => {
    const srs = await runCli(['pool', 'srs', ...pool()])
    expect(srs.code).toBe(0)
    expect(srs.out).toMatch(/^NAME +UUID +TYPE +SIZE +USED/)
    expect(srs.out).toMatch(new RegExp(`^Local storage +${srUuid} .*default$`, 'm'))
    const vms = JSON.parse((await runCli(['pool', 'vms', ...pool(), '--json'])).out)
    expect(vms.map((v: { name: string }) => v.name)).toEqual(['db-01', 'web-01'])
    expect(vms[1]).toMatchObject({ powerState: 'Running', tags: ['prod'], uuid: expect.any(String) })
    const networks = await runCli(['pool', 'networks', ...pool()])
    expect(networks.out).toMatch(/^NAME +UUID +BRIDGE\n\S/)
    const wrong = await runCli(['pool', 'vms', ...pool(), '--password', 'x'])
    expect(wrong.code).toBe(2) // the pool commands take no password on the command line
  })

  it('refuses to list a pool whose certificate is not pinned, printing the fingerprint seen', async () => {
    const logins = lab.calls.get('session.login_with_password') ?? 0
    for (const command of ['srs', 'vms', 'networks']) {
      const unpinned = await runCli(['pool', command, '--pool', lab.url])
      expect(unpinned.code).toBe(1)
      expect(unpinned.err).toContain('[POOL_CERTIFICATE_UNKNOWN]')
      expect(unpinned.err).toContain(lab.fingerprint)
      const bad = await runCli(['pool', command, '--pool', lab.url, '--fingerprint', 'ab:cd'])
      expect(bad.code).toBe(2)
      expect(bad.err).toMatch(/--fingerprint: 'ab:cd' is not a SHA-256 fingerprint/)
    }
    expect(lab.calls.get('session.login_with_password') ?? 0).toBe(logins)
  })

  it('lists restore points by VM name with job, schedule, full or delta and new data', async () => {
    const first = await backup()
    expect(JSON.parse(first.out)).toMatchObject({ status: 'success', vms: [{ name: 'web-01' }] })
    await lab.guest.writeRandomBlocks(lab.guest.disks(lab.ref('VM', 'web-01'))[0]!, 4)
    expect(JSON.parse((await backup()).out).status).toBe('success')
    const listed = await runCli(['repo', 'snapshots', '--repo', repo, '--vm', 'web-01', '--json'])
    const points = JSON.parse(listed.out)
    expect(points).toEqual([
      expect.objectContaining({ vmName: 'web-01', jobId: 'nightly', scheduleId: 'daily', kind: 'full' }),
      expect.objectContaining({ vmName: 'web-01', jobId: 'nightly', scheduleId: 'daily', kind: 'delta' }),
    ])
    // New data: what each point stored that no earlier point had (the delta: the 4 random blocks).
    expect(points[0].newBytes).toBeGreaterThan(0)
    expect(points[1].newBytes).toBeGreaterThan(4 * 64 * 1024)
    const byUuid = JSON.parse(
      (await runCli(['repo', 'snapshots', '--repo', repo, '--vm', points[0].vm, '--json'])).out,
    )
    expect(byUuid).toEqual(points)
    const human = await runCli(['repo', 'snapshots', '--repo', repo, '--vm', 'web-01'])
    expect(human.out).toMatch(/^DATE \(UTC\) +VM +JOB +SCHEDULE +KIND +SIZE +NEW DATA +PROTECTED +POINT$/m)
    expect(human.out).toMatch(/ web-01 +nightly +daily +delta +32\.0 MiB +[\d.]+ [KM]iB +- +\S+\/\S+$/m)
  })

  it('restores a VM that the next run leaves out; an unknown SR is refused with the pool SRs', async () => {
    const base = ['restore', 'vm', '--repo', repo, '--vm', 'web-01', ...pool()]
    const unknown = await runCli([...base, '--sr', 'nas'])
    expect(unknown.code).toBe(1)
    expect(unknown.err).toContain(`[SR_NOT_FOUND] no SR 'nas' on pool`)
    expect(unknown.err).toContain(`its SRs: 'Local storage' (${srUuid})`)
    const restored = await runCli([...base, '--sr', 'Local storage'])
    expect(restored.code).toBe(0)
    expect(restored.out).toMatch(/^restored \S+ as VM 'web-01 \(restored \d{4}-\d\d-\d\d \d\d:\d\d\)' \(/)
    const vms = JSON.parse((await runCli(['pool', 'vms', ...pool(), '--json'])).out)
    const copy = vms.find((v: { name: string }) => v.name.startsWith('web-01 (restored'))
    expect(copy.tags).toEqual(['prod', 'restored from backup'])
    const next = JSON.parse((await backup()).out)
    expect(next.status).toBe('success')
    expect(next.vms.map((v: { name: string }) => v.name)).toEqual(['web-01'])
  })

  it('restores a disk at a rate of disk bytes, and never overwrites a file without --force', async () => {
    const to = scratch.path('web-01.raw')
    await writeFile(to, 'precious')
    const args = ['restore', 'disk', '--repo', repo, '--vm', 'web-01', '--to', to]
    const refused = await runCli(args)
    const last = (err: string) => err.trim().split('\n').at(-1)
    expect([refused.code, last(refused.err)]).toEqual([
      1,
      `strata: [FILE_EXISTS] file '${to}' exists already and is not replaced unless asked (--force)`,
    ])
    expect(await readFile(to, 'utf8')).toBe('precious')
    const missing = await runCli([
      'restore',
      'disk',
      '--repo',
      repo,
      '--vm',
      'web-01',
      '--to',
      scratch.path('no/dir/x.raw'),
    ])
    expect(last(missing.err)).toBe(
      `strata: [NO_SUCH_FOLDER] folder '${scratch.path('no/dir')}' does not exist (to write '${scratch.path('no/dir/x.raw')}')`,
    )
    const done = await runCli([...args, '--force'])
    expect(done.code).toBe(0)
    expect((await readFile(to)).length).toBe(32 * MiB)
    // The rate counts the 32 MiB of the disk, the zeros it skipped shown apart.
    expect(done.err).toMatch(
      /restore \S+: success in [^,]+, size 32\.0 MiB, 32\.0 MiB at [\d.]+ [KMG]iB\/s, [\d.]+ [KM]iB of data, [\d.]+ MiB of zeros skipped/,
    )
    expect(done.out).toMatch(
      /: 32\.0 MiB in [^,]+ at [\d.]+ [KMG]iB\/s, [\d.]+ [KM]iB of data, [\d.]+ MiB of zeros skipped$/m,
    )
  })

  it('says how to create a missing repository and which variables open an encrypted one', async () => {
    const nowhere = scratch.path('nowhere')
    const missing = await runCli(['repo', 'snapshots', '--repo', nowhere])
    expect(missing.err).toContain(`create it with 'strata repo init --repo ${nowhere}'`)
    const sealed = scratch.path('sealed')
    const secret = 'a passphrase that a key file can hold too'
    process.env.STRATA_PASSPHRASE = secret
    expect((await runCli(['repo', 'init', '--repo', sealed, '--encrypt'])).code).toBe(0)
    delete process.env.STRATA_PASSPHRASE
    for (const argv of [
      ['repo', 'snapshots', '--repo', sealed],
      ['restore', 'disk', '--repo', sealed, '--vm', 'web-01', '--to', scratch.path('x.raw')],
    ]) {
      const { code, err } = await runCli(argv)
      expect(code).toBe(1)
      expect(err).toMatch(/STRATA_PASSPHRASE.*STRATA_KEY_FILE/)
    }
    // A job's worker opens repositories from the environment too.
    const job = JSON.parse(await readFile(jobFile, 'utf8'))
    const sealedJob = scratch.path('sealed.json')
    await writeFile(
      sealedJob,
      JSON.stringify({ ...job, id: 'sealed', repositories: [{ name: 'sealed', location: sealed }] }),
    )
    const run = await runCli(['backup', 'run', sealedJob, '--data-dir', data])
    expect(run.code).toBe(1)
    expect(run.err).toMatch(/open repository sealed: failure .*STRATA_PASSPHRASE.*STRATA_KEY_FILE/)
    // ...and takes the key from STRATA_KEY_FILE (a path in its environment, the key never on a command line).
    const keyFile = scratch.path('sealed.key')
    await writeFile(keyFile, secret)
    process.env.STRATA_KEY_FILE = keyFile
    try {
      const keyed = await runCli(['backup', 'run', sealedJob, '--data-dir', data, '--json'])
      expect(JSON.parse(keyed.out)).toMatchObject({ status: 'success', vms: [{ name: 'web-01' }] })
    } finally {
      delete process.env.STRATA_KEY_FILE
    }
  })
})
