// The server on PostgreSQL, end to end: started with `db` (what --db sets), a pool, a repository and a
// job made through the API, a backup of the lab pool, its run listed with its points, the records in
// PostgreSQL (nothing in a SQLite file) and there for a second server on the same database. The URL's
// password never reaches the server's log. A server starting on a shared store ends as interrupted only
// the pending runs no live instance holds.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { postgresDatabase, usePostgres } from '@strata/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PgDb } from './db/pg-db.js'
import { ApiClient } from './testing/api-client.js'
import { startLabJob, type LabJob } from './testing/lab-job.js'
import { startTestServer } from './testing/test-server.js'

describe('the server on PostgreSQL', () => {
  let t: LabJob
  let url: string

  beforeAll(async () => {
    const server = usePostgres()
    url = await postgresDatabase(server)
    t = await startLabJob('server-pg', { server: { db: url } })
  }, 120_000)
  afterAll(async () => {
    await t?.close()
  })

  it('backs up the lab pool, lists the run with its point, and keeps it all in PostgreSQL', async () => {
    expect(t.server.context.db.dialect).toBe('postgres')
    const run = await t.run()
    expect(run.status).toBe('success')
    const listed = (await t.api.get(`/api/runs?job=${t.jobId}`)).body as {
      runId: string
      points?: unknown[]
    }[]
    expect(listed.map((r) => r.runId)).toEqual([run.runId])
    expect(listed[0]!.points).toHaveLength(1)
    expect(existsSync(join(t.server.config.dataDir, 'strata.db'))).toBe(false)
    const db = new PgDb({ url })
    try {
      expect(await db.get('SELECT status FROM runs WHERE run_id = ?', [run.runId])).toEqual({
        status: 'success',
      })
      expect(await db.get('SELECT count(*) AS n FROM jobs')).toEqual({ n: 1 })
    } finally {
      await db.close()
    }
    const password = usePostgres().password
    expect(t.log.join('\n')).toContain('store: PostgreSQL at postgres://')
    expect(t.log.join('\n')).not.toContain(password)
  }, 180_000)

  it('shows the same jobs and runs to a second server on the same database', async () => {
    const other = await startTestServer(t.scratch, {
      adminPassword: 'admin-password',
      dataDir: t.scratch.path('second'),
      db: url,
      // Both servers seal with one key, as instances of one deployment do.
      env: { STRATA_SECRET_KEY: t.server.config.secretKey.toString('hex') },
    })
    try {
      const api = new ApiClient(other.url)
      expect((await api.login('admin', 'admin-password')).status).toBe(200)
      expect(((await api.get('/api/jobs')).body as { id: string }[]).map((j) => j.id)).toEqual([t.jobId])
      expect(((await api.get(`/api/runs?job=${t.jobId}`)).body as unknown[]).length).toBe(1)
    } finally {
      await other.close()
    }
  }, 120_000)

  it('leaves the runs another live instance holds running when a server starts on the same store', async () => {
    const db = new PgDb({ url })
    const insert = (runId: string) =>
      db.run(
        'INSERT INTO runs (run_id, job_id, job_name, kind, schedule_id, status, start, warnings, details) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)',
        [runId, t.jobId, 'held elsewhere', 'backup', null, 'pending', Date.now(), null],
      )
    // The cluster's tables are made by the instances' coordinators (the first server made them).
    // (Under job ids of their own: the cluster lets one run per job hold a lease.)
    const lease = (runId: string, seconds: number) =>
      db.run(
        `INSERT INTO strata_cluster_runs (run_id, job_id, owner, status, lease_until)
         VALUES (?, ?, 'another-instance', 'running', now() + make_interval(secs => ?))`,
        [runId, `job-of-${runId}`, seconds],
      )
    const other = await (async () => {
      try {
        await insert('r-held')
        await lease('r-held', 600)
        await insert('r-dead')
        await lease('r-dead', -60)
        await insert('r-unleased')
        return await startTestServer(t.scratch, {
          adminPassword: 'admin-password',
          dataDir: t.scratch.path('third'),
          db: url,
          env: { STRATA_SECRET_KEY: t.server.config.secretKey.toString('hex') },
        })
      } catch (error) {
        await db.close()
        throw error
      }
    })()
    try {
      await other.context.runs.recovered
      const status = async (runId: string) =>
        ((await db.get('SELECT status FROM runs WHERE run_id = ?', [runId])) as { status: string }).status
      expect(await status('r-held')).toBe('pending')
      expect(await status('r-dead')).toBe('interrupted')
      expect(await status('r-unleased')).toBe('interrupted')
    } finally {
      await other.close()
      await db.close()
    }
  }, 120_000)
})
