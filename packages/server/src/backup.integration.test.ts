// The server end to end against a real lab pool and a real local repository: a pool connected live, a
// repository, a smart job previewed and run in the engine's worker with its task tree read back, live
// events, a failure from a lab fault with its reason, a restore onto the pool, a VHD download, the
// scheduler firing a seconds-level cron, and syslog forwarding of run logs.
import { createSocket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { Repository, deletePoint } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'
import { openSse } from './testing/sse-reader.js'

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('server with the lab pool', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient
  let poolId: string
  let repoId: string
  let jobId: string
  let srUuid: string

  /** The run's tree once its summary says it ended (the summary is written when its worker is done). */
  const finished = async (runId: string) => {
    await until(`run ${runId}`, async () => {
      const runs = (await api.get('/api/runs?limit=100')).body as { runId: string; status: string }[]
      return runs.some((r) => r.runId === runId && r.status !== 'pending') ? true : undefined
    })
    return (await api.get(`/api/runs/${runId}`)).body
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-server-lab-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [
        { name: 'web-a', power: 'Running', tags: ['prod'], disks: [8] },
        { name: 'db-a', power: 'Halted', tags: ['prod'], disks: [8] },
        { name: 'scratch', power: 'Running', tags: [], disks: [8] },
      ],
    })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('connects a pool and lists its objects from the live cache', async () => {
    const created = await api.post('/api/pools', {
      name: 'lab',
      url: lab.url,
      username: lab.user,
      password: lab.password,
      fingerprint: lab.fingerprint,
    })
    expect(created.status).toBe(201)
    poolId = created.body.id
    expect(created.body).toMatchObject({ name: 'lab', connected: true }) // the answer waits a little for it
    const wrong = await api.post('/api/pools', {
      name: 'wrong',
      url: lab.url,
      username: lab.user,
      password: 'nope',
      fingerprint: lab.fingerprint,
    })
    expect(wrong.body).toMatchObject({ connected: false, error: expect.stringContaining('AUTHENTICATION') })
    expect((await api.delete(`/api/pools/${wrong.body.id}`)).status).toBe(204)
    await until('pool connected', async () =>
      (await api.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
    )
    const vms = (await api.get(`/api/pools/${poolId}/objects?type=VM`)).body as { name_label: string }[]
    expect(vms.map((v) => v.name_label).sort()).toEqual(['db-a', 'scratch', 'web-a'])
    const srs = (await api.get(`/api/pools/${poolId}/objects?type=SR`)).body as {
      uuid: string
      content_type?: string
    }[]
    srUuid = srs.find((s) => s.content_type !== 'iso')!.uuid
    expect((await api.get(`/api/pools/${poolId}/objects?type=disk`)).status).toBe(400)
    // TOTP needs a clock in sync: the server compares its clock with the pool's.
    const clock = await until('the clock check', async () => (await api.get('/api/settings')).body.clock)
    expect(clock).toMatchObject({ source: lab.url, checked: expect.any(Number) })
    expect(Math.abs(clock.offsetMs)).toBeLessThan(2000)
    expect(clock.warning).toBeUndefined()
  })

  it('adds a repository, previews a smart selection, creates a job', async () => {
    const repo = await api.post('/api/repositories', {
      name: 'local',
      location: scratch.path('repo'),
      init: true,
    })
    expect(repo.status).toBe(201)
    repoId = repo.body.id
    expect(repo.body).toMatchObject({ name: 'local', encrypted: false })
    const missing = await api.post('/api/repositories', { name: 'typo', location: scratch.path('nothing') })
    expect(missing.status).toBe(400)
    const smart = { smart: { pools: [poolId], tags: ['prod'], powerState: 'Running' } }
    const preview = await api.post('/api/jobs/preview', { vms: smart })
    expect(preview.body.map((v: { name: string }) => v.name)).toEqual(['web-a'])
    const job = await api.post('/api/jobs', {
      name: 'Nightly',
      vms: smart,
      repositories: [repoId],
      settings: { retries: 0 },
      schedules: [{ id: 'daily', cron: '0 2 * * *', timezone: 'Europe/Paris', retention: { keepLast: 3 } }],
    })
    expect(job.status).toBe(201)
    jobId = job.body.id
    expect(job.body).toMatchObject({
      enabled: true,
      settings: { mode: 'delta' },
      running: false,
      nextRun: expect.any(Number),
    })
    const bad = await api.post('/api/jobs', { name: 'x', vms: smart, repositories: ['repo-nope'] })
    expect(bad.status).toBe(400)
    const badCron = await api.post('/api/jobs', {
      name: 'x',
      vms: smart,
      repositories: [repoId],
      schedules: [{ cron: 'every day' }],
    })
    expect(badCron.status).toBe(400)
    const badZone = await api.post('/api/jobs', {
      name: 'x',
      vms: smart,
      repositories: [repoId],
      schedules: [{ cron: '0 2 * * *', timezone: 'Mars/Olympus' }],
    })
    expect(badZone.body.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: [expect.objectContaining({ field: 'body/schedules/0/timezone' })],
    })
    expect((await api.get('/api/jobs')).body).toHaveLength(1)
  })

  it('runs the job in a worker, streams its events and reads its task tree green', async () => {
    const usage = async () => (await api.get(`/api/repositories/${repoId}`)).body.usage ?? undefined
    expect(await until('the empty repository measured', usage)).toMatchObject({ chunks: 0 })
    const sse = await openSse(`${server.url}/api/events`, api.cookie!)
    const started = await api.post(`/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    const { runId } = started.body as { runId: string }
    const again = await api.post(`/api/jobs/${jobId}/run`)
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('JOB_RUNNING')
    const tree = await finished(runId)
    expect(tree).toMatchObject({ name: 'backup run', status: 'success', data: { jobId } })
    const vm = tree.children.find((c: { name: string }) => c.name === 'VM')
    expect(vm).toMatchObject({ status: 'success', data: { name: 'web-a' } })
    expect(vm.children.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(['snapshot', 'transfer']),
    )
    await until('the run summary event', async () =>
      sse.events.some((e) => e.event === 'run' && (e.data as { status: string }).status === 'success')
        ? true
        : undefined,
    )
    sse.close()
    const taskEvents = sse.events
      .filter((e) => e.event === 'task')
      .map((e) => e.data as { runId: string; event: { type: string } })
    expect(taskEvents.every((e) => e.runId === runId)).toBe(true)
    expect(taskEvents.map((e) => e.event.type)).toEqual(expect.arrayContaining(['start', 'end']))
    const runs = (await api.get(`/api/runs?jobId=${jobId}`)).body
    expect(runs).toEqual([
      expect.objectContaining({ runId, jobName: 'Nightly', status: 'success', kind: 'backup' }),
    ])
    // The run wrote chunks: the usage measured before it is never shown as the usage after it.
    const afterRun = await usage()
    expect(afterRun === undefined || afterRun.chunks > 0).toBe(true)
    expect((await until('the usage measured again', usage)).chunks).toBeGreaterThan(0)
    const overview = (await api.get('/api/overview')).body
    expect(overview.lastRuns[0].runId).toBe(runId)
    expect(overview.nextRuns).toEqual([expect.objectContaining({ jobId, scheduleId: 'daily' })])
  })

  it('lists restore points, restores the VM on the pool and downloads a disk as VHD', async () => {
    const vms = (await api.get(`/api/repositories/${repoId}/vms`)).body
    expect(vms).toEqual([expect.objectContaining({ name: 'web-a', points: 1 })])
    const points = (await api.get(`/api/repositories/${repoId}/points?vm=${vms[0].vmUuid}`)).body
    expect(points).toEqual([expect.objectContaining({ vmName: 'web-a', jobId, size: 8 * 1024 * 1024 })])
    const pointId = points[0].id as string
    const restore = await api.post('/api/restores', {
      repositoryId: repoId,
      pointId,
      kind: 'vm',
      poolId,
      srUuid,
    })
    expect(restore.status).toBe(202)
    const tree = await finished(restore.body.runId)
    expect(tree).toMatchObject({ name: 'restore', status: 'success', data: { vmUuid: expect.any(String) } })
    await until('the restored VM in the cache', async () => {
      const names = (
        (await api.get(`/api/pools/${poolId}/objects?type=VM`)).body as { name_label: string }[]
      ).map((v) => v.name_label)
      // The copy is named after its source and the point's date, never taken for the source.
      return names.filter((n) => n === 'web-a').length === 1 &&
        names.filter((n) => /^web-a \(restored \d{4}-\d\d-\d\d \d\d:\d\d\)$/.test(n)).length === 1
        ? true
        : undefined
    })
    const vhd = await fetch(`${server.url}/api/repositories/${repoId}/points/${pointId}/disks/0.vhd`, {
      headers: { cookie: api.cookie! },
    })
    expect(vhd.status).toBe(200)
    const bytes = Buffer.from(await vhd.arrayBuffer())
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('conectix')
    expect(bytes.length).toBeGreaterThan(512)
  })

  it('sees points written and deleted by other processes (the cache follows the repository)', async () => {
    const before = (await api.get(`/api/repositories/${repoId}/vms`)).body[0]
    // The engine's worker is one other process writing a point...
    const { runId } = (await api.post(`/api/jobs/${jobId}/run`)).body
    await finished(runId)
    expect((await api.get(`/api/repositories/${repoId}/vms`)).body[0].points).toBe(before.points + 1)
    // ...and a repository opened elsewhere (as the CLI would) deletes one.
    const points = (await api.get(`/api/repositories/${repoId}/points?vm=${before.vmUuid}`)).body
    const elsewhere = await Repository.open(new LocalStore(scratch.path('repo')))
    await deletePoint(elsewhere, { vm: before.vmUuid, pointId: points[0].id })
    const after = (await api.get(`/api/repositories/${repoId}/points?vm=${before.vmUuid}`)).body
    expect(after.map((p: { id: string }) => p.id)).toEqual([points[1].id])
  })

  it('backs up into an encrypted repository whose passphrase is stored sealed', async () => {
    const created = await api.post('/api/repositories', {
      name: 'sealed',
      location: scratch.path('sealed-repo'),
      passphrase: 'correct horse battery staple',
      init: true,
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ encrypted: true })
    expect(JSON.stringify(created.body)).not.toContain('staple')
    expect(JSON.stringify(await server.context.db.all('SELECT * FROM repositories'))).not.toContain('staple')
    const vms = (await api.get(`/api/pools/${poolId}/objects?type=VM`)).body as {
      uuid: string
      name_label: string
    }[]
    const uuid = vms.find((v) => v.name_label === 'db-a')!.uuid
    const job = await api.post('/api/jobs', {
      name: 'Sealed',
      vms: { uuids: [uuid] },
      repositories: [created.body.id],
    })
    expect(job.status).toBe(201)
    const { runId } = (await api.post(`/api/jobs/${job.body.id}/run`)).body
    expect((await finished(runId)).status).toBe('success')
    const points = (await api.get(`/api/repositories/${created.body.id}/points`)).body
    expect(points).toEqual([expect.objectContaining({ vmName: 'db-a', vmUuid: uuid })])
    expect((await api.delete(`/api/repositories/${created.body.id}`)).status).toBe(409) // the job uses it
    expect((await api.delete(`/api/jobs/${job.body.id}`)).status).toBe(204)
    expect((await api.delete(`/api/repositories/${created.body.id}`)).status).toBe(204)
  })

  it('shows a failed run red with the reason from the pool', async () => {
    lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 1)
    const { runId } = (await api.post(`/api/jobs/${jobId}/run`)).body
    const tree = await finished(runId)
    expect(tree.status).toBe('failure')
    const vm = tree.children.find((c: { name: string }) => c.name === 'VM')
    expect(vm.status).toBe('failure')
    expect(JSON.stringify(vm)).toContain('SR_BACKEND_FAILURE_44')
    const summary = (await api.get(`/api/runs?jobId=${jobId}&status=failure`)).body
    expect(summary[0]).toMatchObject({ runId, status: 'failure', error: { code: expect.any(String) } })
    expect((await api.get('/api/overview')).body.failures[0].runId).toBe(runId)
  })

  it('fires a seconds-level schedule and forwards run logs to syslog', async () => {
    const listener = createSocket('udp4')
    const lines: string[] = []
    listener.on('message', (m) => lines.push(m.toString()))
    await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve))
    const port = listener.address().port
    expect((await api.patch('/api/settings', { syslog: `udp://127.0.0.1:${port}` })).body).toEqual({
      syslog: `udp://127.0.0.1:${port}`,
    })
    const job = (await api.get(`/api/jobs/${jobId}`)).body
    const schedules = [...job.schedules, { id: 'fast', cron: '*/2 * * * * *', timezone: 'UTC' }]
    expect((await api.patch(`/api/jobs/${jobId}`, { schedules })).status).toBe(200)
    const run = await until('a scheduled run', async () => {
      const runs = (await api.get(`/api/runs?jobId=${jobId}`)).body as {
        scheduleId?: string
        status: string
        runId: string
      }[]
      return runs.find((r) => r.scheduleId === 'fast' && r.status !== 'pending')
    })
    await api.patch(`/api/jobs/${jobId}`, { schedules: job.schedules })
    expect(run.status).toBe('success')
    await until(
      'syslog lines',
      async () => (lines.some((l) => l.includes(run.runId)) ? true : undefined),
      10_000,
    )
    const line = lines.find((l) => l.includes(run.runId))!
    expect(line).toMatch(/^<13[0-9]>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ strata-run \d+ - - run /)
    listener.close()
    await api.patch('/api/settings', { syslog: null })
  })
})
