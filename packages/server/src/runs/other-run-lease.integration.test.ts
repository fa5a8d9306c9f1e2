// Runs that are not a job's (restores, maintenance, imports) are leased like job runs on a real
// PostgreSQL: one that ends releases its lease with its status; one whose instance died is ended
// interrupted by another instance's sweep, naming the dead instance, and is not started again.
import { randomBytes } from 'node:crypto'
import { postgresDatabase, scratchDir, usePostgres, type Scratch } from '@strata/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { wireCluster } from '../cluster/cluster-wiring.js'
import { PgCoordinator } from '../cluster/pg-coordinator.js'
import { migrate } from '../db/database.js'
import { PgDb } from '../db/pg-db.js'
import { JobStore } from '../jobs/job-store.js'
import { PoolStore } from '../pools/pool-store.js'
import { RepositoryStore } from '../repositories/repository-store.js'
import { SecretBox } from '../secret-box.js'
import { ServerLog } from '../server-log.js'
import { until } from '../testing/lab-job.js'
import { RunBus } from './run-bus.js'
import { RunManager } from './run-manager.js'
import { RunStore } from './run-store.js'

const undo: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const u of undo.reverse()) await u().catch(() => undefined)
  undo.length = 0
})

function instance(db: PgDb, url: string, id: string, scratch: Scratch) {
  const coordinator = new PgCoordinator({ connectionString: url, instanceId: id, pollMs: 200, leaseMs: 1500 })
  const lines: string[] = []
  const log = new ServerLog((line) => void lines.push(line))
  const box = new SecretBox(randomBytes(32))
  const jobs = new JobStore(db)
  const bus = new RunBus()
  const runs = new RunManager({
    engineDir: scratch.path(id),
    runs: new RunStore(db),
    bus,
    jobs,
    pools: new PoolStore(db, box),
    repositories: new RepositoryStore(db, box),
    log,
    coordinator,
  })
  const unwire = wireCluster({
    coordinator,
    scheduler: { takeOver: () => Promise.resolve(), reload: () => Promise.resolve() },
    runs,
    jobs,
    bus,
    events: new RunBus(),
    log,
  })
  undo.push(async () => (unwire(), await coordinator.stop()))
  return { coordinator, runs, lines }
}

describe('a restore or maintenance run in a cluster', () => {
  it('is leased, released at its end, and ended interrupted by another instance when its own dies', async () => {
    const url = await postgresDatabase(usePostgres())
    const db = new PgDb({ url })
    undo.push(() => db.close())
    await migrate(db)
    const scratch = await scratchDir('strata-other-lease-')
    undo.push(() => scratch[Symbol.asyncDispose]())
    const a = instance(db, url, 'a', scratch)
    await a.coordinator.start()
    const restore = (runId: string) => ({
      runId,
      jobId: 'restore',
      jobName: 'restore of web-a',
      kind: 'restore' as const,
      start: Date.now(),
    })
    await a.runs.beginOther(restore('r-ends'))
    await a.runs.beginOther(restore('r-dies'))
    const leases = async () =>
      await db.all<{ run_id: string; owner: string; status: string; resumed_by: string | null }>(
        'SELECT run_id, owner, status, resumed_by FROM strata_cluster_runs ORDER BY run_id',
      )
    await until('both leases', async () => ((await leases()).length === 2 ? true : undefined))
    await a.runs.endOther('r-ends', 'success')
    await until('the release', async () =>
      (await leases()).some((l) => l.status === 'success') ? true : undefined,
    )

    // a dies: its coordinator stops without releasing what it holds (as a killed process would).
    await a.coordinator.stop()
    const b = instance(db, url, 'b', scratch)
    await b.coordinator.start()
    const ended = await until('the run ended by b', async () => {
      const row = await b.runs.get('r-dies')
      return row?.status === 'pending' ? undefined : row
    })
    expect(ended).toMatchObject({
      status: 'interrupted',
      error: { code: 'SERVER_STOPPED', message: "server instance 'a' stopped during the run" },
    })
    expect(await leases()).toEqual([
      { run_id: 'r-dies', owner: 'a', status: 'interrupted', resumed_by: 'b' },
      { run_id: 'r-ends', owner: 'a', status: 'success', resumed_by: null },
    ])
    expect(b.lines.join('\n')).toContain(
      "run 'r-dies' was interrupted on instance 'a'; it is not started again",
    )
    expect((await b.runs.list({ jobId: 'restore' })).map((r) => r.runId).sort()).toEqual(['r-dies', 'r-ends'])
  }, 60_000)
})
