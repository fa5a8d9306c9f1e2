// Replication jobs through the server against two lab pools: a job of kind 'replication' with a target SR
// on the other pool and a health check per schedule, created and refused as the contract says, run in
// the engine's worker (a 'replication' run, its tree read back), its replicas listed per job, a failover
// through the API; a run whose health check fails is 'warning'; a health-check VM left by a stopped
// server is swept when it starts again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { HEALTH_CHECK_TAG, healthCheckTags } from '@strata/core/engine'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { XapiClient } from '@strata/core/xapi'
import type { LabPool } from '@strata/lab'
import { startLabPools, type LabPools } from '@strata/lab/testing'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
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

describe('replication jobs through the server', () => {
  let scratch: Scratch
  let pools: LabPools
  let a: LabPool
  let b: LabPool
  let server: RunningServer
  let api: ApiClient
  let poolA: string
  let poolB: string
  let jobId: string
  let srB: string

  const finished = async (runId: string) => {
    const row = await until(`run ${runId}`, async () => {
      const runs = (await api.get('/api/runs?limit=100')).body as { runId: string; status: string }[]
      return runs.find((r) => r.runId === runId && r.status !== 'pending')
    })
    return { row, tree: (await api.get(`/api/runs/${runId}`)).body }
  }
  const addPool = async (name: string, lab: LabPool): Promise<string> => {
    const created = await api.post('/api/pools', {
      name,
      url: lab.url,
      username: lab.user,
      password: lab.password,
      fingerprint: lab.fingerprint,
    })
    expect(created.status).toBe(201)
    return created.body.id as string
  }

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'openssl', 'debugfs']) requireBinary(tool)
    scratch = await scratchDir('strata-server-replication-')
    const common = { authFailureDelayMs: 10, dom0DetachMs: 50, bootDelayMs: 200 }
    const vms = [{ name: 'web-a', power: 'Running' as const, tags: ['prod'], disks: [16] }]
    pools = await startLabPools({ vms, ...common }, { vms: [], ...common })
    ;[a, b] = pools.pools as [LabPool, LabPool]
    srB = String(b.state.db.find('SR', () => true)[0]![1].uuid)
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    poolA = await addPool('site A', a)
    poolB = await addPool('site B', b)
    for (const id of [poolA, poolB])
      await until('pools connected', async () =>
        (await api.get(`/api/pools/${id}`)).body.connected ? true : undefined,
      )
  })
  afterAll(async () => {
    await server?.close()
    await pools?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses a replication job without targets, with repositories, or with an unknown pool', async () => {
    const base = { name: 'r', kind: 'replication', vms: { smart: { pools: [poolA], tags: ['prod'] } } }
    const none = await api.post('/api/jobs', { ...base, repositories: [] })
    expect(none.status).toBe(400)
    expect(JSON.stringify(none.body)).toMatch(/target/)
    const unknown = await api.post('/api/jobs', {
      ...base,
      repositories: [],
      targets: [{ pool: 'nope', sr: srB }],
    })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.message).toMatch(/no pool 'nope'/)
  })

  it('creates a replication job with a health check, runs it to the other pool, lists its replicas', async () => {
    const created = await api.post('/api/jobs', {
      name: 'DR to B',
      kind: 'replication',
      vms: { smart: { pools: [poolA], tags: ['prod'] } },
      repositories: [],
      targets: [{ pool: poolB, sr: srB }],
      settings: { mode: 'delta' },
      // Booting is slow on a loaded machine: a long wait for the good runs, a short one where it times out.
      schedules: [
        { cron: '0 3 * * *', timezone: 'UTC', retention: { keepLast: 2 }, healthCheck: { timeout: '2m' } },
        { cron: '0 4 * * *', timezone: 'UTC', retention: { keepLast: 2 }, healthCheck: { timeout: '3s' } },
      ],
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({ kind: 'replication', targets: [{ pool: poolB, sr: srB }] })
    jobId = created.body.id
    const scheduleId = created.body.schedules[0].id as string
    for (let run = 1; run <= 2; run++) {
      if (run === 2) await a.guest.writeRandomBlocks(a.guest.disks(a.ref('VM', 'web-a'))[0]!, 2)
      const started = await api.post(`/api/jobs/${jobId}/run`, { scheduleId })
      expect(started.status).toBe(202)
      const { row, tree } = await finished(started.body.runId)
      expect(row, JSON.stringify(tree)).toMatchObject({ status: 'success', kind: 'replication' })
      expect(tree.name).toBe('replication run')
      expect(JSON.stringify(tree)).toMatch(/"health check"/)
    }
    const replicas = (await api.get(`/api/jobs/${jobId}/replicas`)).body as {
      kind: string
      sourceVmName: string
      pool: string
    }[]
    expect(replicas.filter((r) => r.kind === 'replica')).toHaveLength(1)
    expect(replicas.filter((r) => r.kind === 'point')).toHaveLength(2)
    expect(replicas.every((r) => r.sourceVmName === 'web-a' && r.pool === poolB)).toBe(true)
    // No health-check VM is left on the target pool.
    expect(b.state.db.find('VM', (r) => (r.tags as string[]).includes(HEALTH_CHECK_TAG))).toEqual([])
  })

  it("turns the run orange ('warning') when the replica's guest never reports", async () => {
    const disk = a.guest.disks(a.ref('VM', 'web-a'))[0]!
    await a.guest.write(disk, 0, Buffer.alloc(512))
    const job = (await api.get(`/api/jobs/${jobId}`)).body
    const checked = await api.post(`/api/jobs/${jobId}/run`, { scheduleId: job.schedules[1].id })
    const { row: orange, tree } = await finished(checked.body.runId)
    expect(orange.status, JSON.stringify(tree)).toBe('warning')
    expect(JSON.stringify(tree)).toMatch(/HEALTH_CHECK_TIMEOUT/)
  })

  it('fails over through the API: a clone, then the replica itself; unknown ones are 404', async () => {
    const missing = await api.post('/api/replicas/failover', { pool: poolB, replica: 'nope' })
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('REPLICA_NOT_FOUND')
    const clone = await api.post('/api/replicas/failover', { pool: poolB, replica: 'web-a', clone: true })
    expect(clone.status, JSON.stringify(clone.body)).toBe(200)
    expect(clone.body).toMatchObject({ cloned: true })
    const itself = await api.post('/api/replicas/failover', { pool: poolB, replica: 'web-a' })
    expect(itself.body).toMatchObject({ cloned: false })
    const replicas = (await api.get(`/api/jobs/${jobId}/replicas`)).body as { failedOver?: string }[]
    expect(replicas.some((r) => r.failedOver !== undefined)).toBe(true)
  })

  it('sweeps the health-check VMs of its own runs that a stop left, when it starts again', async () => {
    const id = readFileSync(join(server.config.dataDir, 'engine', 'server-id'), 'utf8').trim()
    const xb = new XapiClient(b.connection)
    try {
      // What a check leaves when its server stops between the clone and the destroy: a tagged VM.
      const [point] = b.state.db.find('VM', (r) => r.is_a_snapshot === true)[0]!
      const copy = await xb.call<string>('VM.clone', [point, '[Strata health check] left'])
      await xb.call('VM.set_is_a_template', [copy, false])
      const tags = healthCheckTags({ owner: id, timeoutMs: 3_600_000, guestCheck: false })
      await xb.call('VM.set_tags', [copy, tags])
    } finally {
      await xb.close()
    }
    const tagged = () => b.state.db.find('VM', (r) => (r.tags as string[]).includes(HEALTH_CHECK_TAG))
    expect(tagged()).toHaveLength(1)
    await server.close()
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    await until('the sweep', async () => (tagged().length === 0 ? true : undefined), 30_000)
  })
})
