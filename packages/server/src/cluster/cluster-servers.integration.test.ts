// Two server instances (startServer) sharing one PostgreSQL coordinator database: one leads; a real
// backup run on one is leased to it in the cluster and its live events reach the other instance's
// browsers (GET /api/events) and not that instance's own run bus. Each instance keeps its own SQLite
// store here: the shared store is another change (docs/scale-out.md).
import { fork } from 'node:child_process'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { LabPool } from '@strata/lab'
import { postgresDatabase, scratchDir, usePostgres, type Scratch } from '@strata/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startLabJob, until, type LabJob } from '../testing/lab-job.js'
import { openSse, type SseStream } from '../testing/sse-reader.js'
import { startTestServer } from '../testing/test-server.js'
import { blackHoleProxy, viaProxy } from './fixtures/black-hole-proxy.js'
import { PgCoordinator } from './pg-coordinator.js'

const undo: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const u of undo.reverse()) await u().catch(() => undefined)
  undo.length = 0
})

const coordinator = (url: string, instanceId: string): PgCoordinator =>
  new PgCoordinator({ connectionString: url, instanceId, pollMs: 200, leaseMs: 1500 })

describe('two server instances on one PostgreSQL', () => {
  it('lease a run to the instance that runs it and show its events in the other instance’s browsers', async () => {
    const url = await postgresDatabase(usePostgres())
    const a: LabJob = await startLabJob('cluster-a', { server: { coordinator: coordinator(url, 'a') } })
    undo.push(() => a.close())
    const scratch: Scratch = await scratchDir('strata-cluster-b-')
    undo.push(() => scratch[Symbol.asyncDispose]())
    const b: RunningServer = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      coordinator: coordinator(url, 'b'),
    })
    undo.push(() => b.close())
    await until('one leader', () =>
      [a.server, b].filter((s) => s.context.coordinator.isLeader()).length === 1 ? true : undefined,
    )
    const browser = new ApiClient(b.url)
    await browser.login('admin', 'admin-password')
    const stream: SseStream = await openSse(`${b.url}/api/events`, browser.cookie!)
    undo.push(async () => stream.close())
    const ownBus: unknown[] = []
    b.context.bus.on('run', (row) => ownBus.push(row))

    const run = await a.run()
    expect(run.status).toBe('success')
    const runEvents = await until('the run’s end in b’s browser', () => {
      const rows = stream.events
        .filter((e) => e.event === 'run')
        .map((e) => e.data as { runId: string; status: string })
      return rows.some((r) => r.runId === run.runId && r.status === 'success') ? rows : undefined
    })
    expect(runEvents.map((r) => r.status)).toEqual(['pending', 'success'])
    const tasks = stream.events.filter((e) => e.event === 'task').map((e) => e.data as { runId: string })
    expect(tasks.length).toBeGreaterThan(2)
    expect(tasks.every((t) => t.runId === run.runId)).toBe(true)
    // A's run is not b's: b's reporting and retention never saw it; b has no record of it.
    expect(ownBus).toEqual([])
    expect((await browser.get(`/api/runs/${run.runId}`)).status).toBe(404)

    const client = new pg.Client({ connectionString: url })
    await client.connect()
    undo.push(() => client.end())
    const leases = await until('the lease’s release', async () => {
      const { rows } = await client.query('SELECT run_id, owner, status FROM strata_cluster_runs')
      return rows[0]?.status === 'success' ? rows : undefined
    })
    expect(leases).toEqual([{ run_id: run.runId, owner: 'a', status: 'success' }])
  }, 180_000)

  it('resume on the other instance a run whose instance lost the database, and stop it there', async () => {
    const url = await postgresDatabase(usePostgres())
    const proxy = await blackHoleProxy(new URL(url).port)
    undo.push(async () => proxy.close())
    const a: LabJob = await startLabJob('cluster-resume-a', {
      server: { coordinator: coordinator(viaProxy(url, proxy), 'a') },
    })
    undo.push(() => a.close())
    // The same configuration on b (its own SQLite store, a copy of a's: the shared store is to come).
    const scratch: Scratch = await scratchDir('strata-cluster-resume-b-')
    undo.push(() => scratch[Symbol.asyncDispose]())
    await mkdir(scratch.path('data'))
    const copy = new Database(join(a.server.config.dataDir, 'strata.db'), { readonly: true })
    await copy.backup(scratch.path('data', 'strata.db'))
    copy.close()
    await copyFile(a.server.config.secretKeyFile!, scratch.path('data', 'secret.key'))
    const bLog: string[] = []
    const b = await startTestServer(scratch, {
      coordinator: coordinator(url, 'b'),
      echo: (line) => void bLog.push(line),
    })
    undo.push(() => b.close())
    const onB = new ApiClient(b.url)
    await onB.login('admin', 'admin-password')

    a.lab.faults.slowHosts.set(a.lab.hosts[0]!.ref, 150) // a run long enough to cut in
    const started = await a.api.post(`/api/jobs/${a.jobId}/run`)
    expect(started.status).toBe(202)
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    undo.push(() => client.end())
    const aRun = await until('a’s lease', async () => {
      const { rows } = await client.query(`SELECT run_id FROM strata_cluster_runs WHERE owner = 'a'`)
      return rows[0]?.run_id as string | undefined
    })
    // While it runs on a, b refuses to run the job too.
    const twice = await onB.post(`/api/jobs/${a.jobId}/run`)
    expect(twice.status).toBe(202)
    const refused = await until('b’s refused run to end', async () => {
      const runs = (await onB.get(`/api/runs?job=${a.jobId}`)).body as { runId: string; status: string }[]
      return runs.find((r) => r.status !== 'pending')
    })
    expect(refused.status).not.toBe('success')
    expect(bLog.some((l) => /is running on another server instance/.test(l))).toBe(true)
    proxy.cut()

    const bRun = await until(
      'the run resumed on b',
      async () => {
        const runs = (await onB.get(`/api/runs?job=${a.jobId}`)).body as { runId: string; status: string }[]
        const resumed = runs.filter((r) => r.runId !== refused.runId)
        if (resumed.length > 0) a.lab.faults.slowHosts.clear()
        return resumed.find((r) => r.status !== 'pending')
      },
      120_000,
    )
    expect(bRun.status).toBe('success')
    const aEnd = await until('a’s run to stop', async () => {
      const runs = (await a.api.get(`/api/runs?job=${a.jobId}`)).body as { runId: string; status: string }[]
      return runs.find((r) => r.runId === aRun && r.status !== 'pending')
    })
    expect(aEnd.status).not.toBe('success')
    expect(a.log.some((l) => l.includes(`run '${aRun}' was taken over by another server instance`))).toBe(
      true,
    )
    const { rows } = await client.query(
      'SELECT run_id, owner, status, resumed_by FROM strata_cluster_runs ORDER BY started_at',
    )
    expect(rows).toEqual([
      { run_id: aRun, owner: 'a', status: 'interrupted', resumed_by: 'b' },
      { run_id: bRun.runId, owner: 'b', status: 'success', resumed_by: null },
    ])
  }, 240_000)

  it('resume on the other instance a run whose instance was killed (SIGKILL)', async () => {
    const url = await postgresDatabase(usePostgres())
    const lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-a', power: 'Running', tags: ['prod'], disks: [8] }],
    })
    undo.push(() => lab.close())
    const scratch: Scratch = await scratchDir('strata-cluster-kill-')
    undo.push(() => scratch[Symbol.asyncDispose]())
    await mkdir(scratch.path('a'))
    const a = fork(join(import.meta.dirname, 'fixtures', 'server-node.ts'), [scratch.path('a'), 'a'], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, STRATA_TEST_PG_URL: url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    undo.push(async () => void a.kill('SIGKILL'))
    const aUrl = await new Promise<string>((resolve, reject) => {
      a.on('message', (m: { type: string; url?: string }) => m.type === 'ready' && resolve(m.url!))
      a.once('exit', (code) => reject(new Error(`server a exited (${code})`)))
    })
    const onA = new ApiClient(aUrl)
    await onA.login('admin', 'admin-password')
    const jobId = await configure(onA, lab, scratch.path('repo'))
    // The same configuration on b (its own SQLite store, a copy of a's: the shared store is to come).
    await mkdir(scratch.path('b'))
    const copy = new Database(scratch.path('a', 'strata.db'), { readonly: true })
    await copy.backup(scratch.path('b', 'strata.db'))
    copy.close()
    await copyFile(scratch.path('a', 'secret.key'), scratch.path('b', 'secret.key'))
    const b = await startTestServer(scratch, {
      dataDir: scratch.path('b'),
      coordinator: coordinator(url, 'b'),
    })
    undo.push(() => b.close())
    const onB = new ApiClient(b.url)
    await onB.login('admin', 'admin-password')

    lab.faults.slowHosts.set(lab.hosts[0]!.ref, 150) // a run long enough to kill its server in
    expect((await onA.post(`/api/jobs/${jobId}/run`)).status).toBe(202)
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    undo.push(() => client.end())
    const aRun = await until('a’s lease', async () => {
      const { rows } = await client.query(`SELECT run_id FROM strata_cluster_runs WHERE owner = 'a'`)
      return rows[0]?.run_id as string | undefined
    })
    // Killed once its snapshot is taken (the report of the run in a's engine log says so).
    await until('a’s snapshot', async () => {
      const report = await onA.get(`/api/runs/${aRun}/report`)
      return typeof report.body === 'string' && /snapshot/i.test(report.body) ? true : undefined
    })
    const killed = Date.now()
    a.kill('SIGKILL')
    const bRun = await until(
      'the run resumed on b',
      async () => {
        const runs = (await onB.get(`/api/runs?job=${jobId}`)).body as { runId: string; status: string }[]
        if (runs.length > 0) lab.faults.slowHosts.clear()
        return runs.find((r) => r.status !== 'pending')
      },
      120_000,
    )
    expect(bRun.status).toBe('success')
    const { rows } = await client.query(
      'SELECT run_id, owner, status, resumed_by, ended_at FROM strata_cluster_runs ORDER BY started_at',
    )
    expect(rows.map(({ ended_at: _, ...r }) => r)).toEqual([
      { run_id: aRun, owner: 'a', status: 'interrupted', resumed_by: 'b' },
      { run_id: bRun.runId, owner: 'b', status: 'success', resumed_by: null },
    ])
    // Taken within a lease and a sweep of the kill (1.5 s + 0.5 s), with room for a loaded machine.
    expect((rows[0].ended_at as Date).getTime() - killed).toBeLessThan(5000)
  }, 240_000)
})

/** A pool, a local repository and a job on the VMs tagged 'prod', through the API (as lab-job.ts). */
async function configure(api: ApiClient, lab: LabPool, repoPath: string): Promise<string> {
  const pool = await api.post('/api/pools', {
    name: 'lab',
    url: lab.url,
    username: lab.user,
    password: lab.password,
    fingerprint: lab.fingerprint,
  })
  await until('the pool', async () =>
    (await api.get(`/api/pools/${pool.body.id}`)).body.connected ? true : undefined,
  )
  const repo = await api.post('/api/repositories', { name: 'local', location: repoPath, init: true })
  const job = await api.post('/api/jobs', {
    name: 'Nightly',
    vms: { smart: { pools: [pool.body.id], tags: ['prod'] } },
    repositories: [repo.body.id],
  })
  return job.body.id as string
}
