// Two server instances (startServer) sharing one PostgreSQL coordinator database: one leads; a real
// backup run on one is leased to it in the cluster and its live events reach the other instance's
// browsers (GET /api/events) and not that instance's own run bus. Each instance keeps its own SQLite
// store here: the shared store is another change (docs/scale-out.md).
import { postgresDatabase, scratchDir, usePostgres, type Scratch } from '@strata/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startLabJob, until, type LabJob } from '../testing/lab-job.js'
import { openSse, type SseStream } from '../testing/sse-reader.js'
import { startTestServer } from '../testing/test-server.js'
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
})
