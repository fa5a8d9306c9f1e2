// A server with the lab pool connected, a local repository and a smart job on the VMs tagged 'prod', for
// integration tests of what follows runs (reports, statistics, metrics). The server's log lines are
// kept in `log` so that tests can read what an admin would.
import { sleep } from '@strata/core'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { StartOptions, RunningServer } from '../start-server.js'
import { ApiClient } from './api-client.js'
import { startTestServer } from './test-server.js'

export interface LabJob {
  readonly scratch: Scratch
  readonly lab: LabPool
  readonly server: RunningServer
  readonly api: ApiClient
  readonly jobId: string
  readonly repositoryId: string
  readonly log: string[]
  /** Starts a run of the job and resolves with its summary once it ended. */
  run(): Promise<{ runId: string; status: string; end: number }>
  close(): Promise<void>
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

export async function startLabJob(
  name: string,
  options: { vms?: { name: string; tags: string[] }[]; server?: StartOptions; report?: string } = {},
): Promise<LabJob> {
  const scratch = await scratchDir(`strata-${name}-`)
  const seeds = options.vms ?? [{ name: 'web-a', tags: ['prod'] }]
  const lab = await LabPool.start({
    authFailureDelayMs: 10,
    dom0DetachMs: 50,
    vms: seeds.map((v) => ({ name: v.name, power: 'Running' as const, tags: v.tags, disks: [8] })),
  })
  const log: string[] = []
  const server = await startTestServer(scratch, {
    adminPassword: 'admin-password',
    echo: (line) => void log.push(line),
    ...options.server,
  })
  const api = new ApiClient(server.url)
  await api.login('admin', 'admin-password')
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
  const repo = await api.post('/api/repositories', {
    name: 'local',
    location: scratch.path('repo'),
    init: true,
  })
  const job = await api.post('/api/jobs', {
    name: 'Nightly',
    vms: { smart: { pools: [pool.body.id], tags: ['prod'] } },
    repositories: [repo.body.id],
    ...(options.report === undefined ? {} : { report: options.report }),
  })
  if (job.status !== 201) throw new Error(`the job was refused: ${JSON.stringify(job.body)}`)
  const jobId = job.body.id as string
  return {
    scratch,
    lab,
    server,
    api,
    jobId,
    repositoryId: repo.body.id,
    log,
    async run() {
      const started = await api.post(`/api/jobs/${jobId}/run`)
      if (started.status !== 202) throw new Error(`the run was refused: ${JSON.stringify(started.body)}`)
      const runId = started.body.runId as string
      return until(
        `run ${runId}`,
        async () => {
          const runs = (await api.get(`/api/runs?job=${jobId}&limit=50`)).body as {
            runId: string
            status: string
            end?: number
          }[]
          const run = runs.find((r) => r.runId === runId && r.status !== 'pending')
          return run === undefined ? undefined : { runId, status: run.status, end: run.end! }
        },
        120_000,
      )
    },
    async close() {
      await server.close().catch(() => undefined)
      await lab.close().catch(() => undefined)
      await scratch[Symbol.asyncDispose]()
    },
  }
}
