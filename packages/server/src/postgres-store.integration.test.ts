// The server on PostgreSQL, end to end: started with `db` (what --db sets), a pool, a repository and a
// job made through the API, a backup of the lab pool, its run listed with its points, the records in
// PostgreSQL (nothing in a SQLite file) and there for a second server on the same database. The URL's
// password never reaches the server's log.
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
})
