// The server's embedded database: one SQLite file in WAL mode (readers never wait for the writer),
// foreign keys on, migrations applied at open. better-sqlite3 is synchronous, which suits one process
// whose statements are all small.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { StrataError } from '@strata/core'
import type { SecretBox } from '../secret-box.js'
import type { Db } from './db-handle.js'
import { MIGRATIONS } from './migrations.js'

export type { Db } from './db-handle.js'

export function openDatabase(dataDir: string, box?: SecretBox): Db {
  const db = new Database(join(dataDir, 'strata.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  try {
    migrate(db, box)
  } catch (error) {
    db.close()
    throw error
  }
  return db
}

/** Applies the migrations not applied yet, each in a transaction (a failed one changes nothing). */
export function migrate(db: Db, box?: SecretBox): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new StrataError(
      'DATABASE_TOO_NEW',
      `the database is at schema version ${current}; this server knows ${MIGRATIONS.length}`,
    )
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    const migration = MIGRATIONS[version]!
    db.transaction(() => {
      if (typeof migration === 'string') db.exec(migration)
      else migration(db, { box })
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
}
