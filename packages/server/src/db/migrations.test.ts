import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { migrate } from './database.js'
import { SqliteDb } from './sqlite-db.js'
import { MIGRATIONS, migrationSql, type SqlMigration } from './migrations.js'

describe('migration 2: pinned pool certificates', () => {
  it('leaves pools added before unpinned and without plain-HTTP permission', async () => {
    const db = new Database(':memory:')
    db.exec(migrationSql(MIGRATIONS[0] as SqlMigration, 'sqlite'))
    db.pragma('user_version = 1')
    db.prepare("INSERT INTO pools VALUES ('p1', 'old', 'http://xcp1', 'root', 'sealed')").run()
    await migrate(new SqliteDb(db))
    expect(db.prepare('SELECT fingerprint, insecure_http FROM pools').get()).toEqual({
      fingerprint: null,
      insecure_http: 0,
    })
    db.close()
  })
})

describe('migration 3: run details', () => {
  it('keeps runs recorded before, without details, and adds the index by job', async () => {
    const db = new Database(':memory:')
    db.exec(migrationSql(MIGRATIONS[0] as SqlMigration, 'sqlite'))
    db.exec(migrationSql(MIGRATIONS[1] as SqlMigration, 'sqlite'))
    db.pragma('user_version = 2')
    db.prepare(
      "INSERT INTO runs (run_id, job_id, job_name, kind, status, start) VALUES ('r1', 'j1', 'nightly', 'backup', 'success', 1)",
    ).run()
    await migrate(new SqliteDb(db))
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(db.prepare('SELECT run_id, details FROM runs').get()).toEqual({ run_id: 'r1', details: null })
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'runs_by_job'").get()).toEqual({
      name: 'runs_by_job',
    })
    db.close()
  })
})

describe('migration 5: recorded repository identities', () => {
  it('upgrades a database at version 2 as shipped, leaving repositories added before unrecorded', async () => {
    const db = new Database(':memory:')
    db.exec(migrationSql(MIGRATIONS[0] as SqlMigration, 'sqlite'))
    // Version 2 as it shipped (pinned pools), written out: a database that has it must still migrate.
    db.exec('ALTER TABLE pools ADD COLUMN fingerprint TEXT')
    db.exec('ALTER TABLE pools ADD COLUMN insecure_http INTEGER NOT NULL DEFAULT 0')
    db.pragma('user_version = 2')
    db.prepare("INSERT INTO repositories VALUES ('r1', 'nas', '/srv/nas', NULL, NULL)").run()
    await migrate(new SqliteDb(db))
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(db.prepare('SELECT identity FROM repositories').get()).toEqual({ identity: null })
    expect(db.prepare('SELECT fingerprint, insecure_http FROM pools').all()).toEqual([])
    db.close()
  })
})

describe('migration 7: reports, statistics, usage samples', () => {
  it("fills each job's and VM's last successful backup from the runs recorded before", async () => {
    const db = new Database(':memory:')
    for (const m of MIGRATIONS.slice(0, 6)) if (typeof m !== 'function') db.exec(migrationSql(m, 'sqlite'))
    db.pragma('user_version = 6')
    const insert = db.prepare(
      "INSERT INTO runs (run_id, job_id, job_name, kind, status, start, end, details) VALUES (?, 'j1', 'nightly', ?, ?, ?, ?, ?)",
    )
    const vms = (a: string, b: string) =>
      JSON.stringify({
        vms: [
          { uuid: 'u-a', name: 'web', status: a },
          { uuid: 'u-b', name: 'db', status: b },
        ],
      })
    insert.run('r1', 'backup', 'success', 1, 10, vms('success', 'success'))
    insert.run('r2', 'backup', 'failure', 20, 30, vms('success', 'failure'))
    insert.run('r3', 'backup', 'failure', 40, 50, 'not json')
    insert.run('r4', 'restore', 'success', 60, 70, vms('success', 'success'))
    insert.run('r5', 'backup', 'pending', 80, null, vms('success', 'success'))
    await migrate(new SqliteDb(db))
    expect(db.prepare('SELECT * FROM vm_last_success ORDER BY vm_uuid').all()).toEqual([
      { job_id: 'j1', vm_uuid: 'u-a', vm_name: 'web', time: 30 },
      { job_id: 'j1', vm_uuid: 'u-b', vm_name: 'db', time: 10 },
    ])
    db.close()
  })
})

describe('the migration list', () => {
  // Migration 6 re-seals the columns that could hold unbound ('v1:') values, a list it keeps frozen;
  // columns added later are sealed bound from the start, so migrations after it are plain SQL.
  it('keeps the re-sealing migration where it shipped, after every column that could hold unbound secrets', async () => {
    expect(MIGRATIONS.findIndex((m) => typeof m === 'function')).toBe(5)
    expect(MIGRATIONS.slice(6).every((m) => typeof m !== 'function')).toBe(true)
  })
})

describe('migration 9: XO remotes', () => {
  it('adds the table of XO remotes to a database at version 8, keeping what it held', async () => {
    const db = new Database(':memory:')
    for (const m of MIGRATIONS.slice(0, 8)) if (typeof m !== 'function') db.exec(migrationSql(m, 'sqlite'))
    db.pragma('user_version = 8')
    db.prepare("INSERT INTO repositories (id, name, location) VALUES ('r1', 'nas', '/srv/nas')").run()
    await migrate(new SqliteDb(db))
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    db.prepare(
      "INSERT INTO xo_remotes (id, name, location, key_sealed, s3_sealed, created) VALUES ('x1', 'xo', '/mnt/xo', NULL, NULL, 1)",
    ).run()
    expect(db.prepare('SELECT name FROM xo_remotes').all()).toEqual([{ name: 'xo' }])
    expect(db.prepare('SELECT name FROM repositories').all()).toEqual([{ name: 'nas' }])
    db.close()
  })
})

describe('64-bit integers in migrations', () => {
  it('are INTEGER on SQLite and BIGINT on PostgreSQL, never the INT64 of a shared text', () => {
    const sql = MIGRATIONS.filter((m) => typeof m !== 'function').map((m) => m as SqlMigration)
    for (const m of sql) {
      expect(migrationSql(m, 'sqlite')).not.toMatch(/\bINT64\b|\bBIGINT\b/)
      expect(migrationSql(m, 'postgres')).not.toMatch(/\bINT64\b/)
    }
    expect(migrationSql(MIGRATIONS[9] as SqlMigration, 'postgres')).toContain('created BIGINT NOT NULL')
    expect(migrationSql(MIGRATIONS[9] as SqlMigration, 'sqlite')).toContain('created INTEGER NOT NULL')
  })
})
