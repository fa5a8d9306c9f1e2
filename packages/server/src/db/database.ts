// The server's embedded database: one SQLite file in WAL mode (readers never wait for the writer),
// foreign keys on, migrations applied at open, behind the asynchronous SQL seam (db-handle.ts).
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { StrataError } from '@strata/core'
import type { SecretBox } from '../secret-box.js'
import type { Db } from './db-handle.js'
import { MIGRATIONS, migrationSql } from './migrations.js'
import { SqliteDb } from './sqlite-db.js'

export type { Db } from './db-handle.js'

export async function openDatabase(dataDir: string, box?: SecretBox): Promise<Db> {
  const db = openSqlite(join(dataDir, 'strata.db'))
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

/** Applies the migrations not applied yet, each in a transaction (a failed one changes nothing). */
export async function migrate(db: Db, box?: SecretBox): Promise<void> {
  const current = await schemaVersion(db)
  if (current > MIGRATIONS.length) {
    throw new StrataError(
      'DATABASE_TOO_NEW',
      `the database is at schema version ${current}; this server knows ${MIGRATIONS.length}`,
    )
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    const migration = MIGRATIONS[version]!
    await db.transaction(async (tx) => {
      if (typeof migration === 'function') await migration(tx, { box })
      else await tx.exec(migrationSql(migration, tx.dialect))
      await tx.exec(`PRAGMA user_version = ${version + 1}`)
    })
  }
}

export async function schemaVersion(db: Db): Promise<number> {
  const row = await db.get<{ user_version: number }>('PRAGMA user_version')
  return row?.user_version ?? 0
}
