// `strata replicate` and `strata healthcheck` against two lab pools, as an admin types them: a VM
// replicated inline to the other pool three times with guest writes between runs (the first a full copy,
// then changed blocks only), the replicas listed, a health check of the replica, a failover with a
// clone, then of the replica itself; --json results; the bad inputs refused with a clear reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { LabPool } from '@strata/lab'
import { startLabPools, type LabPools } from '@strata/lab/testing'
import { createHash } from 'node:crypto'
import { parseJob, runJobInWorker, type RunResult } from '@strata/core/engine'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { runCli } from '../testing/cli-harness.js'

describe('strata replicate and healthcheck against two lab pools', () => {
  let pools: LabPools
  let a: LabPool
  let b: LabPool
  let scratch: Scratch
  let srB: string
  const poolArgs = (lab: LabPool) => ['--pool', lab.url, '--fingerprint', lab.fingerprint!]
  const runArgs = () => [
    'replicate',
    'run',
    ...poolArgs(a),
    '--password',
    a.password,
    '--vm',
    'web-01',
    '--sr',
    srB,
    '--target-pool',
    b.url,
    '--target-fingerprint',
    b.fingerprint!,
    '--target-password',
    b.password,
    '--data-dir',
    scratch.path('data'),
    '--keep',
    '2',
  ]
  const onB = (...args: string[]) => [...args, ...poolArgs(b), '--password', b.password]

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    const common = { authFailureDelayMs: 10, dom0DetachMs: 300, bootDelayMs: 200 }
    const vms = [{ name: 'web-01', power: 'Running' as const, disks: [32] }]
    pools = await startLabPools({ vms, ...common }, { vms: [], ...common })
    ;[a, b] = pools.pools as [LabPool, LabPool]
    srB = String(b.state.db.find('SR', () => true)[0]![1].uuid)
    scratch = await scratchDir()
  })
  afterAll(async () => {
    await pools?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('replicates to the other pool: a full copy, then changed blocks only, printing the task tree', async () => {
    const first = await runCli(runArgs())
    expect(first.code, first.out + first.err).toBe(0)
    expect(first.out).toMatch(/replication job .*: success/)
    expect(first.out).toMatch(/VM web-01: success full copy/)
    expect(first.out).toMatch(/crash-consistent/)
    expect(first.out).toMatch(/replica/) // the tree's replica task
    const disk = a.guest.disks(a.ref('VM', 'web-01'))[0]!
    for (let run = 2; run <= 3; run++) {
      const offsets = await a.guest.writeRandomBlocks(disk, 2)
      const next = await runCli([...runArgs(), '--json'])
      expect(next.code, next.out + next.err).toBe(0)
      const result = JSON.parse(next.out) as {
        status: string
        vms: { replication: { full: boolean; bytesRead: number; bytesWritten: number } }[]
      }
      expect(result.status).toBe('success')
      expect(result.vms[0]!.replication.full).toBe(false)
      // Exactly the 64 KiB runs written crossed (read once, written once), not their 2 MiB blocks.
      const changed = new Set(offsets).size * 64 * 1024
      expect(result.vms[0]!.replication.bytesRead).toBe(changed)
      expect(result.vms[0]!.replication.bytesWritten).toBe(changed)
    }
  })

  it('lists the replica and its restore points (retention kept two)', async () => {
    const listed = await runCli([...onB('replicate', 'list'), '--json'])
    expect(listed.code, listed.err).toBe(0)
    const { replicas } = JSON.parse(listed.out) as { replicas: { kind: string; sourceVmName: string }[] }
    expect(replicas.filter((r) => r.kind === 'replica')).toHaveLength(1)
    expect(replicas.filter((r) => r.kind === 'point')).toHaveLength(2)
    expect(replicas.every((r) => r.sourceVmName === 'web-01')).toBe(true)
    const human = await runCli(onB('replicate', 'list'))
    expect(human.out).toMatch(/^SOURCE\s+TIME\s+KIND/)
    expect(human.out).toMatch(/web-01 .* replica .* delta .* ready \(Halted\)/)
  })

  it('health-checks the replica through a clone, and leaves nothing', async () => {
    const vms = b.state.db.find('VM', () => true).length
    const checked = await runCli(onB('healthcheck', 'run', '--replica', 'web-01', '--timeout', '20s'))
    expect(checked.code, checked.out + checked.err).toBe(0)
    expect(checked.out).toMatch(/health check of replica 'web-01': success, the guest reported after/)
    expect(b.state.db.find('VM', () => true).length).toBe(vms)
  })

  it('health-checks a restore point of a backup (restored to an SR, booted, destroyed)', async () => {
    const repo = scratch.path('repo')
    await Repository.create(new LocalStore(repo), { chunkSize: 1024 * 1024 })
    const backup = await runCli([
      ...['backup', 'run', ...poolArgs(a), '--password', a.password, '--vm', 'web-01', '--repo', repo],
      ...['--data-dir', scratch.path('data'), '--json'],
    ])
    expect(backup.code, backup.out + backup.err).toBe(0)
    const pointId = (JSON.parse(backup.out) as { vms: { result: { points: { pointId: string }[] } }[] })
      .vms[0]!.result.points[0]!.pointId
    const srA = String(a.state.db.find('SR', () => true)[0]![1].uuid)
    const vms = a.state.db.find('VM', () => true).length
    const checked = await runCli([
      ...['healthcheck', 'run', '--repo', repo, '--point', pointId, ...poolArgs(a)],
      ...['--password', a.password, '--sr', srA, '--timeout', '30s', '--json'],
    ])
    expect(checked.code, checked.out + checked.err).toBe(0)
    expect(JSON.parse(checked.out)).toMatchObject({ status: 'success', result: { status: 'success' } })
    expect(a.state.db.find('VM', () => true).length).toBe(vms)
  })

  it('fails over with a clone (the chain kept), then the replica itself', async () => {
    const cloned = await runCli([...onB('replicate', 'failover', '--replica', 'web-01', '--clone'), '--json'])
    expect(cloned.code, cloned.err).toBe(0)
    const c = JSON.parse(cloned.out) as { vmUuid: string; cloned: boolean }
    expect(c.cloned).toBe(true)
    expect(b.state.db.find('VM', (r) => r.uuid === c.vmUuid)[0]![1].power_state).toBe('Running')
    const itself = await runCli(onB('replicate', 'failover', '--replica', 'web-01'))
    expect(itself.code, itself.err).toBe(0)
    expect(itself.out).toMatch(/started 'web-01 - replication of web-01 \(/)
    const listed = await runCli(onB('replicate', 'list'))
    expect(listed.out).toMatch(/failed over .*\(Running\)/)
  })

  it('keeps the last good replica when the worker is SIGKILLed mid-write, and the next run completes', async () => {
    const job = (maxBytesPerSecond?: number) =>
      parseJob({
        id: 'killed',
        kind: 'replication',
        pools: [
          { id: 'a', url: a.url, fingerprint: a.fingerprint, password: a.password },
          { id: 'b', url: b.url, fingerprint: b.fingerprint, password: b.password },
        ],
        vms: ['web-01'],
        targets: [{ pool: 'b', sr: srB }],
        settings: { mode: 'delta', ...(maxBytesPerSecond === undefined ? {} : { maxBytesPerSecond }) },
        schedules: [{ id: 'k', retention: { keepLast: 2 } }],
      })
    const run = (o: Partial<Parameters<typeof runJobInWorker>[0]> = {}): Promise<RunResult> =>
      runJobInWorker({
        job: job(),
        scheduleId: 'k',
        dataDir: scratch.path('killed'),
        signal: new AbortController().signal,
        ...o,
      })
    const good = await run()
    expect(good.status).toBe('success')
    const replicaOf = () =>
      b.state.db
        .find('VM', (r) => {
          const oc = r.other_config as Record<string, string>
          return (
            oc['xo:backup:job'] === 'killed' &&
            r.is_a_snapshot !== true &&
            oc['strata:replica:pending'] === undefined
          )
        })
        .map(([ref, r]) => ({ ref, uuid: String(r.uuid), power: r.power_state }))
    const [before] = replicaOf()
    const diskOf = (vm: string) =>
      String(b.state.db.find('VBD', (r) => r.VM === vm && r.type === 'Disk')[0]![1].VDI)
    const bytesBefore = createHash('sha256')
      .update(await b.readDisk(diskOf(before!.ref)))
      .digest('hex')
    await a.guest.writeRandomBlocks(a.guest.disks(a.ref('VM', 'web-01'))[0]!, 10)
    let pid = 0
    // Ten 64 KiB runs cross (CBT's unit, not their 2 MiB blocks), throttled to 256 KiB/s: killed while
    // the upload is under way, two runs in.
    const killed = run({
      job: job(256 * 1024),
      onStart: (info) => (pid = info.pid),
      onEvent: (e) => {
        if (e.type === 'progress' && e.done >= 128 * 1024 && pid !== 0) process.kill(pid, 'SIGKILL')
      },
    })
    await expect(killed).rejects.toThrow(/SIGKILL/)
    // The replica of the good run is as it was: the same VM, the same bytes, halted and start-blocked.
    expect(replicaOf()).toEqual([before])
    const after = createHash('sha256')
      .update(await b.readDisk(diskOf(before!.ref)))
      .digest('hex')
    expect(after).toBe(bytesBefore)
    expect(b.state.db.get('VM', before!.ref).blocked_operations).toHaveProperty('start')
    const retry = await run()
    expect(retry.status).toBe('success')
    expect(retry.vms[0]!.replication!.full).toBe(false)
    const [now] = replicaOf()
    expect(now!.uuid).not.toBe(before!.uuid)
    // What the killed attempt left (its pending disks and VM) was swept by the retry.
    const pending = b.state.db.find('VDI', (r) => {
      const oc = r.other_config as Record<string, string>
      return oc['xo:backup:job'] === 'killed' && oc['strata:replica:pending'] !== undefined
    })
    expect(pending).toEqual([])
  })

  it('refuses bad inputs with a reason', async () => {
    const noSr = await runCli(['replicate', 'run', ...poolArgs(a), '--password', 'x', '--vm', 'web-01'])
    expect(noSr.code).toBe(2)
    expect(noSr.err).toMatch(/--sr SR_UUID/)
    const badMode = await runCli([...runArgs(), '--mode', 'sideways'])
    expect(badMode.code).toBe(2)
    expect(badMode.err).toMatch(/--mode delta or full/)
    const stray = await runCli([
      'replicate',
      'run',
      ...poolArgs(a),
      '--vm',
      'x',
      '--sr',
      'y',
      '--target-user',
      'u',
    ])
    expect(stray.code).toBe(2)
    expect(stray.err).toMatch(/--target-user needs --target-pool/)
    const none = await runCli(onB('replicate', 'failover', '--replica', 'nope'))
    expect(none.code).not.toBe(0)
    expect(none.err).toMatch(/REPLICA_NOT_FOUND|no replica 'nope'/)
    const both = await runCli(onB('healthcheck', 'run', '--replica', 'x', '--point', 'y'))
    expect(both.code).toBe(2)
    const timeout = await runCli(onB('healthcheck', 'run', '--replica', 'x', '--timeout', 'soon'))
    expect(timeout.code).toBe(2)
    expect(timeout.err).toMatch(/--timeout/)
  })
})
