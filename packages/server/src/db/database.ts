// The server's database: SQLite by default (one file in the data directory, WAL mode so that readers
// never wait for the writer, foreign keys on), or PostgreSQL when configured (several server instances
// share one), both behind the asynchronous SQL seam (db-handle.ts), migrations applied at open.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { StrataError } from '@strata/core'
import type { SecretBox } from '../secret-box.js'
import type { Db } from './db-handle.js'
import { MIGRATIONS, migrationSql } from './migrations.js'
import { PgDb, type PgOptions } from './pg-db.js'
import { SqliteDb } from './sqlite-db.js'

export type { Db } from './db-handle.js'

/** Where the store is: absent for SQLite in the data directory. */
export type DatabaseOptions = PgOptions

export async function openDatabase(dataDir: string, box?: SecretBox, options?: DatabaseOptions): Promise<Db> {
  const db = options === undefined ? openSqlite(join(dataDir, 'strata.db')) : new PgDb(options)
  try {
    await migrate(db, box)
  } catch (error) {
    await db.close()
    throw error
  }
  return db
}

/** A SQLite database behind the seam, without migrations (tests build old schemas on it). */
export function openSqlite(file: string): SqliteDb {
  const raw = new Database(file)
  raw.pragma('journal_mode = WAL')
  raw.pragma('foreign_keys = ON')
  raw.pragma('busy_timeout = 5000')
  return new SqliteDb(raw)
}

/**
 * Applies the migrations not applied yet, each in a transaction of its own (a failed one changes
 * nothing). Each takes the schema lock first (SQLite's write lock; on PostgreSQL an advisory lock) and
 * reads the version again under it: of two servers starting at once, one migrates, the other finds
 * nothing left to do.
 */
export async function migrate(db: Db, box?: SecretBox): Promise<void> {
  for (;;) {
    const done = await db.transaction(async (tx) => {
      const current = await lockedVersion(tx)
      if (current > MIGRATIONS.length)
        throw new StrataError(
          'DATABASE_TOO_NEW',
          `the database is at schema version ${current}; this server knows ${MIGRATIONS.length}`,
        )
      if (current === MIGRATIONS.length) return true
      const migration = MIGRATIONS[current]!
      if (typeof migration === 'function') await migration(tx, { box })
      else await tx.exec(migrationSql(migration, tx.dialect))
      await setVersion(tx, current + 1)
      return false
    })
    if (done) return
  }
}

export async function schemaVersion(db: Db): Promise<number> {
  if (db.dialect === 'sqlite')
    return (await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version ?? 0
  const table = await db.get<{ t: string | null }>("SELECT to_regclass('strata_schema')::text AS t")
  if (table?.t == null) return 0
  return (await db.get<{ version: number }>('SELECT version FROM strata_schema'))?.version ?? 0
}

/** An arbitrary constant: the advisory lock every Strata server takes to migrate. */
const SCHEMA_LOCK = 0x5374_7261

async function lockedVersion(tx: Db): Promise<number> {
  if (tx.dialect === 'postgres') {
    await tx.get('SELECT pg_advisory_xact_lock(?)', [SCHEMA_LOCK])
    await tx.exec('CREATE TABLE IF NOT EXISTS strata_schema (version INTEGER NOT NULL)')
  }
  return schemaVersion(tx)
}

async function setVersion(tx: Db, version: number): Promise<void> {
  if (tx.dialect === 'sqlite') return tx.exec(`PRAGMA user_version = ${version}`)
  const { changes } = await tx.run('UPDATE strata_schema SET version = ?', [version])
  if (changes === 0) await tx.run('INSERT INTO strata_schema (version) VALUES (?)', [version])
}
