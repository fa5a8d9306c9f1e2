import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { migrate } from './database.js'
import { MIGRATIONS } from './migrations.js'

describe('migration 2: pinned pool certificates', () => {
  it('leaves pools added before unpinned and without plain-HTTP permission', () => {
    const db = new Database(':memory:')
    db.exec(MIGRATIONS[0]!)
    db.pragma('user_version = 1')
    db.prepare("INSERT INTO pools VALUES ('p1', 'old', 'http://xcp1', 'root', 'sealed')").run()
    migrate(db)
    expect(db.prepare('SELECT fingerprint, insecure_http FROM pools').get()).toEqual({
      fingerprint: null,
      insecure_http: 0,
    })
    db.close()
  })
})

describe('migration 3: recorded repository identities', () => {
  it('upgrades a database at version 2 as shipped, leaving repositories added before unrecorded', () => {
    const db = new Database(':memory:')
    db.exec(MIGRATIONS[0]!)
    // Version 2 as it shipped (pinned pools), written out: a database that has it must still migrate.
    db.exec('ALTER TABLE pools ADD COLUMN fingerprint TEXT')
    db.exec('ALTER TABLE pools ADD COLUMN insecure_http INTEGER NOT NULL DEFAULT 0')
    db.pragma('user_version = 2')
    db.prepare("INSERT INTO repositories VALUES ('r1', 'nas', '/srv/nas', NULL, NULL)").run()
    migrate(db)
    expect(db.pragma('user_version', { simple: true })).toBe(3)
    expect(db.prepare('SELECT identity FROM repositories').get()).toEqual({ identity: null })
    expect(db.prepare('SELECT fingerprint, insecure_http FROM pools').all()).toEqual([])
    db.close()
  })
})
