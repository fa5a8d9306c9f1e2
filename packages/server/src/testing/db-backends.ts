// The two databases behind the SQL seam, for tests that run the same cases on both: SQLite (a file in
// a scratch directory) and PostgreSQL (a database of its own on the run's server, usePostgres()).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postgresDatabase, type PostgresServerInfo } from '@strata/core/testing'
import type { Db } from '../db/db-handle.js'
import { openSqlite } from '../db/database.js'
import { PgDb } from '../db/pg-db.js'

export interface TestBackend {
  readonly name: 'sqlite' | 'postgres'
  /** An empty database (no migrations applied), closed and removed by the returned dispose. */
  open(): Promise<{ db: Db; url?: string; dispose: () => Promise<void> }>
}

export function testBackends(postgres: () => PostgresServerInfo): TestBackend[] {
  return [
    {
      name: 'sqlite',
      open: async () => {
        const dir = await mkdtemp(join(tmpdir(), 'strata-db-'))
        const db = openSqlite(join(dir, 'strata.db'))
        return {
          db,
          dispose: async () => (await db.close(), await rm(dir, { recursive: true, force: true })),
        }
      },
    },
    {
      name: 'postgres',
      open: async () => {
        const url = await postgresDatabase(postgres(), `t_${randomBytes(6).toString('hex')}`)
        const db = new PgDb({ url, maxConnections: 4 })
        return { db, url, dispose: () => db.close() }
      },
    },
  ]
}
