import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { migrate } from './database.js'
import { MIGRATIONS } from './migrations.js'

describe('migration 2: pinned pool certificates', () => {
  it('leaves pools added before unpinned and without plain-HTTP permission', () => {
    const db = new Database(':memory:')
    db.exec(MIGRATIONS[0] as string)
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
