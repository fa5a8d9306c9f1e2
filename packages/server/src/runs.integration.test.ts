// What the server tells an admin about runs and restore points, against the lab pool: a pool whose
// password is wrong fails its run (naming the pool), runs carry names and the points they wrote and are
// filtered by job, state and start, a run's report as text, points listed by VM name with job, schedule,
// kind and new data, and restores that the next backup leaves out (with the server's own tag).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('runs and restore points through the API, against the lab', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient
  let poolId: string
  let repoId: string
  let jobId: string
  let srUuid: string

  /** The run's summary once it ended. */
  const ended = (runId: string) =>
    until(`run ${runId}`, async () => {
      const { body } = await api.get('/api/runs?limit=1000')
      return body.find((r: { runId: string; status: string }) => r.runId === runId && r.status !== 'pending')
    })
  const runJob = async (id: string) => ended((await api.post(`/api/jobs/${id}/run`)).body.runId)
  const vmsOnPool = async () =>
    (await api.get(`/api/pools/${poolId}/objects?type=VM`)).body as { name_label: string; tags: string[] }[]

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-server-runs-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [
        { name: 'web-a', power: 'Running', tags: ['prod'], disks: [8] },
        { name: 'other', power: 'Halted', tags: [], disks: [8] },
      ],
    })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const pool = {
      name: 'Lab pool',
      url: lab.url,
      username: lab.user,
      password: lab.password,
      fingerprint: lab.fingerprint,
    }
    poolId = (await api.post('/api/pools', pool)).body.id
    await until('the pool', async () =>
      (await api.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
    )
    repoId = (
      await api.post('/api/repositories', { name: 'Local repo', location: scratch.path('repo'), init: true })
    ).body.id
    const job = await api.post('/api/jobs', {
      name: 'Nightly',
      vms: { smart: { pools: [poolId], tags: ['prod'] } },
      repositories: [repoId],
      schedules: [{ id: 'daily', name: 'Every night', cron: '0 2 * * *', timezone: 'UTC' }],
    })
    jobId = job.body.id
    const srs = (await api.get(`/api/pools/${poolId}/objects?type=SR`)).body as {
      uuid: string
      name_label: string
    }[]
    srUuid = srs.find((s) => s.name_label === 'Local storage')!.uuid
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('fails the run of a pool whose password is wrong, naming the pool and the reason', async () => {
    const wrong = await api.post('/api/pools', {
      name: 'Wrong pool',
      url: lab.url,
      username: lab.user,
      password: 'nope',
      fingerprint: lab.fingerprint,
    })
    const job = await api.post('/api/jobs', {
      name: 'Wrong',
      vms: { smart: { pools: [wrong.body.id], tags: ['prod'] } },
      repositories: [repoId],
    })
    const run = await runJob(job.body.id)
    expect(run).toMatchObject({
      status: 'failure',
      error: { code: 'POOL_UNREACHABLE' },
      pools: ['Wrong pool'],
    })
    expect(run.error.message).toContain(`pool 'Wrong pool' (${lab.url})`)
    expect(run.error.message).toContain('SESSION_AUTHENTICATION_FAILED')
    const failed = (await api.get(`/api/runs?job=${job.body.id}&state=failure`)).body
    expect(failed.map((r: { runId: string }) => r.runId)).toEqual([run.runId])
    expect((await api.delete(`/api/jobs/${job.body.id}`)).status).toBe(204)
    expect((await api.delete(`/api/pools/${wrong.body.id}`)).status).toBe(204)
  })

  it('keeps names and the points written with each run, filters runs and reports one as text', async () => {
    const before = Date.now()
    const run = await runJob(jobId)
    expect(run).toMatchObject({
      status: 'success',
      jobName: 'Nightly',
      pools: ['Lab pool'],
      repositories: ['Local repo'],
      vms: [{ name: 'web-a', status: 'success', uuid: expect.any(String) }],
      points: [{ repositoryId: repoId, repository: 'Local repo', vm: 'web-a', pointId: expect.any(String) }],
    })
    const tree = (await api.get(`/api/runs/${run.runId}`)).body
    const open = tree.children.find((c: { name: string }) => c.name === 'open repository')
    expect(open.data).toMatchObject({ repository: 'Local repo', repositoryId: repoId })
    const vm = tree.children.find((c: { name: string }) => c.name === 'VM')
    expect(vm.data).toMatchObject({ name: 'web-a', pool: 'Lab pool', poolId })
    expect(JSON.stringify(tree)).not.toContain(`"${repoId}"]`) // no repository id left where a name goes

    const since = new Date(before).toISOString()
    const filtered = (await api.get(`/api/runs?job=${jobId}&state=success&since=${since}`)).body
    expect(filtered.map((r: { runId: string }) => r.runId)).toEqual([run.runId])
    expect((await api.get(`/api/runs?job=${jobId}&since=${Date.now() + 60_000}`)).body).toEqual([])
    expect((await api.get('/api/runs?since=yesterday')).status).toBe(400)

    const report = await fetch(`${server.url}/api/runs/${run.runId}/report`, {
      headers: { cookie: api.cookie! },
    })
    expect(report.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    const text = await report.text()
    expect(text).toContain(
      `Strata backup run ${run.runId}\nJob:          Nightly (${jobId})\nSchedule:     daily\n`,
    )
    expect(text).toContain('Pools:        Lab pool\nRepositories: Local repo\nStatus:       success\n')
    expect(text).toMatch(/ {2}open repository Local repo: success/)
    expect(text).toMatch(new RegExp(`VM web-a: success in .*, full, .*point ${run.points[0].pointId}`))
  })

  it('lists restore points by VM name with job, schedule, kind and new data', async () => {
    const byName = (await api.get(`/api/repositories/${repoId}/points?vm=web-a`)).body
    expect(byName.length).toBeGreaterThan(0)
    expect(byName[0]).toMatchObject({
      vmName: 'web-a',
      jobId,
      jobName: 'Nightly',
      scheduleId: 'daily',
      scheduleName: 'Every night',
      kind: 'full',
      size: 8 * 1024 * 1024,
      newBytes: expect.any(Number),
      disks: [{ name: expect.any(String), size: 8 * 1024 * 1024, newBytes: expect.any(Number) }],
    })
    expect(byName[0].newBytes).toBeGreaterThan(0)
    const byUuid = (await api.get(`/api/repositories/${repoId}/points?vm=${byName[0].vmUuid}`)).body
    expect(byUuid).toEqual(byName)
    expect((await api.get(`/api/repositories/${repoId}/points?vm=nobody`)).body).toEqual([])
  })

  it('restores a VM named after its source and the date, tagged, which the next run leaves out', async () => {
    const [point] = (await api.get(`/api/repositories/${repoId}/points?vm=web-a`)).body
    const body = { repositoryId: repoId, pointId: point.id, kind: 'vm', poolId }
    const badSr = await api.post('/api/restores', { ...body, srUuid: 'no-such-sr' })
    expect(badSr.status).toBe(400)
    expect(badSr.body.error.message).toContain(`its SRs: 'Local storage' (${srUuid})`)

    const { runId } = (await api.post('/api/restores', { ...body, srUuid })).body
    const restore = await ended(runId)
    expect(restore).toMatchObject({ status: 'success', kind: 'restore', jobName: 'restore of web-a' })
    const name = restore.vms[0].name as string
    expect(name).toMatch(/^web-a \(restored \d{4}-\d\d-\d\d \d\d:\d\d\)$/)
    const copy = await until('the restored VM', async () =>
      (await vmsOnPool()).find((v) => v.name_label === name),
    )
    expect(copy.tags).toEqual(['prod', 'restored from backup'])
    expect(
      await (
        await fetch(`${server.url}/api/runs/${runId}/report`, { headers: { cookie: api.cookie! } })
      ).text(),
    ).toContain(`VM:           ${name}\n`)
    const next = await runJob(jobId)
    expect(next.vms.map((v: { name: string }) => v.name)).toEqual(['web-a'])

    // The server's own tag: restores carry it, and the job's smart selection leaves such VMs out.
    expect((await api.patch('/api/settings', { restoreTag: 'copy of a backup' })).body).toEqual({
      restoreTag: 'copy of a backup',
    })
    const second = await ended((await api.post('/api/restores', { ...body, srUuid })).body.runId)
    const tagged = await until('the second copy', async () =>
      (await vmsOnPool()).find(
        (v) => v.name_label === second.vms[0].name && v.tags.includes('copy of a backup'),
      ),
    )
    expect(tagged.tags).toEqual(['prod', 'copy of a backup'])
    const preview = (
      await api.post('/api/jobs/preview', { vms: { smart: { pools: [poolId], tags: ['prod'] } } })
    ).body
    expect(preview.map((v: { name: string }) => v.name).sort()).toEqual(['web-a', name]) // the old tag no longer counts
    const third = await runJob(jobId)
    expect(third.vms.map((v: { name: string }) => v.name).sort()).toEqual(['web-a', name])
    await api.patch('/api/settings', { restoreTag: null })
  })
})
