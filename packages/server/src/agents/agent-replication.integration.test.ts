// Replication jobs and health checks whose source pool is an agent's run on the agent (the built CLI's
// `strata agent`), in a worker process there, against the real lab pool: a delta replication with a
// health check of its replica, and a backup whose schedule health-checks the new point by restoring and
// booting it there. Both read through the API as local runs; the server never connects to the pool; no
// health-check VM is left. An offline agent makes a replication refuse to start, naming it.
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HEALTH_CHECK_TAG } from '@strata/core/engine'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { agentOnline, cliAgentBuilt, type CliAgent } from './testing/cli-agent.js'
import { addSitePool, pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'

interface Job {
  id: string
  schedules: { id: string }[]
}

describe('replication and health checks on an agent', { timeout: 300_000 }, () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let admin: PinnedAdmin
  let cli: CliAgent | undefined
  let poolId: string
  let replication: Job
  let backup: Job

  const job = async (body: Record<string, unknown>): Promise<Job> => {
    const created = await admin.request<Job>('POST', '/api/jobs', body)
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    return created.body
  }
  /** Runs the job's first schedule and waits for its end: its summary and task tree. */
  const run = async (j: Job) => {
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${j.id}/run`, {
      scheduleId: j.schedules[0]!.id,
    })
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    const { runId } = started.body
    const row = await until(
      `run ${runId}`,
      async () =>
        (
          await admin.request<{ runId: string; status: string; kind: string }[]>(
            'GET',
            `/api/runs?job=${j.id}`,
          )
        ).body.find((r) => r.runId === runId && r.status !== 'pending'),
      240_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; the agent said: ${cli?.said()}`)
    })
    return { runId, row, tree: (await admin.request<unknown>('GET', `/api/runs/${runId}`)).body }
  }
  const healthCheckVms = () =>
    lab.state.db.find('VM', (r) => ((r.tags as string[] | undefined) ?? []).includes(HEALTH_CHECK_TAG))

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'openssl', 'debugfs']) requireBinary(tool)
    expect(cliAgentBuilt(), 'npm run build first').toBe(true)
    scratch = await scratchDir('strata-agent-replication-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      bootDelayMs: 200,
      vms: [{ name: 'web-b', power: 'Running', tags: ['prod'], disks: [16] }],
    })
    const sr = String(lab.state.db.find('SR', (r) => r.content_type !== 'iso')[0]![1].uuid)
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    poolId = await addSitePool(admin, lab)
    const repoId = (
      await admin.request<{ id: string }>('POST', '/api/repositories', {
        name: 'at-b',
        location: scratch.path('site-b-repo'),
        init: true,
      })
    ).body.id
    const vms = { smart: { pools: [poolId], tags: ['prod'] } }
    const schedule = { cron: '0 3 * * *', timezone: 'UTC', retention: { keepLast: 2 } }
    replication = await job({
      name: 'DR at B',
      kind: 'replication',
      vms,
      repositories: [],
      targets: [{ pool: poolId, sr }],
      settings: { mode: 'delta', retries: 0 },
      schedules: [{ ...schedule, healthCheck: { timeout: '2m' } }],
    })
    backup = await job({
      name: 'Backup at B',
      vms,
      repositories: [repoId],
      settings: { retries: 0 },
      schedules: [{ ...schedule, healthCheck: { sr, timeout: '2m' } }],
    })
    cli = (await agentOnline(admin, scratch.path('agent'), { pools: [poolId] })).cli
  })
  afterAll(async () => {
    await cli?.stop()
    await server?.close().catch(() => undefined)
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('replicates on the agent and health-checks the replica there', async () => {
    const { runId, row, tree } = await run(replication)
    expect(row, JSON.stringify(tree)).toMatchObject({ status: 'success', kind: 'replication' })
    expect(JSON.stringify(tree)).toMatch(/"health check"/)
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`))).toBe(true)
    const replicas = lab.state.db.find('VM', (r) =>
      ((r.tags as string[] | undefined) ?? []).includes('Continuous Replication'),
    )
    expect(replicas.length).toBeGreaterThan(0)
    expect(healthCheckVms()).toEqual([])
    expect((await admin.request('GET', `/api/pools/${poolId}`)).body).toMatchObject({ connected: false })
  })

  it('health-checks a backup’s new point on the agent (restored and booted there)', async () => {
    const { runId, row, tree } = await run(backup)
    expect(row, JSON.stringify(tree)).toMatchObject({ status: 'success', kind: 'backup' })
    expect(JSON.stringify(tree)).toMatch(/"health check"/)
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`))).toBe(true)
    expect(healthCheckVms()).toEqual([])
  })

  it('refuses a replication while the agent is offline, naming it', async () => {
    await cli!.stop()
    await until(
      'the agent offline',
      async () =>
        (await admin.request<{ state: string }[]>('GET', '/api/agents')).body[0]?.state === 'offline' ||
        undefined,
      15_000,
    )
    const refused = await admin.request<{ error: { code: string; message: string } }>(
      'POST',
      `/api/jobs/${replication.id}/run`,
    )
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({
      code: 'AGENT_OFFLINE',
      message: expect.stringContaining("agent 'site-b'"),
    })
  })
})
