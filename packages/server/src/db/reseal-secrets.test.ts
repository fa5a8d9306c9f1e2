import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SecretBox } from '../secret-box.js'
import { poolPasswordField, repositoryField, totpField } from '../secret-fields.js'
import { sealUnbound } from '../testing/legacy-seal.js'
import { migrate } from './database.js'
import { SqliteDb } from './sqlite-db.js'
import { MIGRATIONS, migrationSql, type SqlMigration } from './migrations.js'

/** A database as the first release left it: schema 1, secrets sealed unbound under `key`. */
function releasedDatabase(key: Buffer): Database.Database {
  const db = new Database(':memory:')
  db.exec(migrationSql(MIGRATIONS[0] as SqlMigration, 'sqlite'))
  db.pragma('user_version = 1')
  db.prepare(
    "INSERT INTO users (id, username, role, password_hash, totp_secret, created) VALUES ('u-1', 'admin', 'admin', 'x', ?, 0)",
  ).run(sealUnbound(key, 'TOTPSEED'))
  db.prepare(
    "INSERT INTO pools (id, name, url, username, password_sealed) VALUES ('pool-1', 'lab', 'https://h', 'root', ?)",
  ).run(sealUnbound(key, 'pool password'))
  db.prepare(
    "INSERT INTO repositories (id, name, location, passphrase_sealed, s3_sealed) VALUES ('repo-1', 'r', '/r', ?, ?)",
  ).run(
    sealUnbound(key, 'repository passphrase'),
    sealUnbound(key, '{"accessKeyId":"a","secretAccessKey":"s"}'),
  )
  return db
}

/** The re-sealing migration's index: the version a database is at just before it. */
const RESEAL = MIGRATIONS.findIndex((m) => typeof m === 'function')

const column = (db: Database.Database, table: string, name: string): string =>
  (db.prepare(`SELECT ${name} AS v FROM ${table}`).get() as { v: string }).v

describe('the migration binding secrets to their row', () => {
  it('re-seals every old secret bound to its table, row and column', async () => {
    const key = randomBytes(32)
    const box = new SecretBox(key)
    const db = releasedDatabase(key)
    await migrate(new SqliteDb(db), box)
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(box.open(column(db, 'users', 'totp_secret'), totpField('u-1', 'totp_secret'))).toBe('TOTPSEED')
    expect(box.open(column(db, 'pools', 'password_sealed'), poolPasswordField('pool-1'))).toBe(
      'pool password',
    )
    expect(
      box.open(
        column(db, 'repositories', 'passphrase_sealed'),
        repositoryField('repo-1', 'passphrase_sealed'),
      ),
    ).toBe('repository passphrase')
    expect(
      JSON.parse(box.open(column(db, 'repositories', 's3_sealed'), repositoryField('repo-1', 's3_sealed'))),
    ).toEqual({
      accessKeyId: 'a',
      secretAccessKey: 's',
    })
    // Bound now: the pool's sealed password does not open as another row's or column's.
    const sealed = column(db, 'pools', 'password_sealed')
    expect(() => box.open(sealed, poolPasswordField('pool-2'))).toThrow(/another row/)
    expect(() => box.open(sealed, repositoryField('pool-1', 'passphrase_sealed'))).toThrow(/another row/)
  })

  it('stops at the first secret that does not open with the key, changing none', async () => {
    const db = releasedDatabase(randomBytes(32))
    const before = column(db, 'pools', 'password_sealed')
    await expect(migrate(new SqliteDb(db), new SecretBox(randomBytes(32)))).rejects.toThrow(
      expect.objectContaining({
        code: 'SECRET_UNREADABLE',
        message: expect.stringContaining("users 'u-1' (totp_secret)"),
      }),
    )
    // The migrations before it were applied; it was not.
    expect(db.pragma('user_version', { simple: true })).toBe(RESEAL)
    expect(column(db, 'pools', 'password_sealed')).toBe(before)
    await expect(migrate(new SqliteDb(db))).rejects.toThrow(
      expect.objectContaining({ code: 'MIGRATION_NEEDS_KEY' }),
    )
  })

  it('needs no key for a database without secrets', async () => {
    const db = new Database(':memory:')
    await migrate(new SqliteDb(db))
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
  })
})
