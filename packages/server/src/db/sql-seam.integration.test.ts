// The SQL seam itself on SQLite and on PostgreSQL: transactions commit or roll back whole, a nested one
// is a savepoint, statements from outside an open transaction stay out of it, constraints hold, the
// migrations apply once even when two servers start at the same time.
import { usePostgres } from '@strata/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { testBackends } from '../testing/db-backends.js'
import type { Db } from './db-handle.js'
import { migrate, schemaVersion } from './database.js'
import { MIGRATIONS } from './migrations.js'
import { PgDb } from './pg-db.js'

describe.each(testBackends(usePostgres))('the SQL seam on $name', (backend) => {
  const disposers: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const dispose of disposers.splice(0)) await dispose()
  })
  const open = async () => {
    const opened = await backend.open()
    disposers.push(opened.dispose)
    return opened
  }
  const table = async (db: Db) => {
    await db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)')
    return db
  }
  const ids = async (db: Db) =>
    (await db.all<{ id: string }>('SELECT id FROM t ORDER BY id')).map((r) => r.id)

  it('commits a transaction whole, and rolls one back whole when it throws', async () => {
    const db = await table((await open()).db)
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO t (id, n) VALUES (?, ?)', ['a', 1])
      await tx.run('INSERT INTO t (id, n) VALUES (?, ?)', ['b', 2 ** 50])
    })
    await expect(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO t (id, n) VALUES (?, ?)', ['c', 3])
        throw new Error('half way')
      }),
    ).rejects.toThrow('half way')
    expect(await ids(db)).toEqual(['a', 'b'])
    expect(await db.get('SELECT n FROM t WHERE id = ?', ['b'])).toEqual({ n: 2 ** 50 })
    expect(await db.run('UPDATE t SET n = n + 1 WHERE id != ?', ['?'])).toEqual({ changes: 2 })
  })

  it('rolls back a nested transaction alone (a savepoint), and joins calls made inside to the transaction', async () => {
    const db = await table((await open()).db)
    await db.transaction(async () => {
      await db.run("INSERT INTO t (id, n) VALUES ('a', 1)") // the handle itself: joins
      await expect(
        db.transaction(async () => {
          await db.run("INSERT INTO t (id, n) VALUES ('b', 2)")
          throw new Error('inner')
        }),
      ).rejects.toThrow('inner')
    })
    expect(await ids(db)).toEqual(['a'])
  })

  it('keeps statements from outside an open transaction out of it (they wait, or see the last commit)', async () => {
    const db = await table((await open()).db)
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const tx = db.transaction(async (t) => {
      await t.run("INSERT INTO t (id, n) VALUES ('in', 1)")
      await held
      throw new Error('rolled back')
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const outside = db.run("INSERT INTO t (id, n) VALUES ('out', 1)")
    release()
    await expect(tx).rejects.toThrow('rolled back')
    await outside
    expect(await ids(db)).toEqual(['out'])
  })

  it('refuses a duplicate key and a missing reference, changing nothing', async () => {
    const { db } = await open()
    await migrate(db)
    await db.run(
      "INSERT INTO users (id, username, role, password_hash, created) VALUES ('u', 'a', 'admin', 'h', 1)",
    )
    await expect(
      db.run(
        "INSERT INTO users (id, username, role, password_hash, created) VALUES ('v', 'a', 'admin', 'h', 1)",
      ),
    ).rejects.toThrow(/unique/i)
    await expect(
      db.run("INSERT INTO sessions (id_hash, user_id, expires) VALUES ('s', 'nobody', 1)"),
    ).rejects.toThrow(/foreign key/i)
    await expect(
      db.run(
        "INSERT INTO users (id, username, role, password_hash, created) VALUES ('w', 'b', 'king', 'h', 1)",
      ),
    ).rejects.toThrow(/check/i)
    expect(await db.get('SELECT count(*) AS n FROM users')).toEqual({ n: 1 })
  })

  it('stops at an aborted signal', async () => {
    const db = await table((await open()).db)
    await expect(db.all('SELECT * FROM t', [], AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop')
  })

  it('applies every migration once, even with two servers migrating at the same time', async () => {
    const { db } = await open()
    await Promise.all([migrate(db), migrate(db)])
    expect(await schemaVersion(db)).toBe(MIGRATIONS.length)
    await migrate(db) // nothing left to do
    expect(await schemaVersion(db)).toBe(MIGRATIONS.length)
  })
})

describe('PostgreSQL', () => {
  it('refuses a database newer than this server, and names an unreachable server without its password', async () => {
    const [, pg] = testBackends(usePostgres)
    const { db, url, dispose } = await pg!.open()
    try {
      await migrate(db)
      await db.run('UPDATE strata_schema SET version = ?', [MIGRATIONS.length + 1])
      await expect(migrate(db)).rejects.toMatchObject({ code: 'DATABASE_TOO_NEW' })
    } finally {
      await dispose()
    }
    const server = usePostgres()
    const wrong = new PgDb({ url: url!.replace(encodeURIComponent(server.password), 'wrong-password') })
    const error = await wrong.get('SELECT 1').catch((e: unknown) => e)
    await wrong.close()
    expect(error).toMatchObject({ code: 'DATABASE_AUTH_FAILED' })
    expect(String((error as Error).message)).not.toContain('wrong-password')
    const closed = new PgDb({ url: 'postgres://strata:secret-pw@127.0.0.1:9/strata', connectTimeoutMs: 2000 })
    const down = await closed.get('SELECT 1').catch((e: unknown) => e)
    await closed.close()
    expect(down).toMatchObject({ code: 'DATABASE_UNREACHABLE', retryable: true })
    expect((down as Error).message).toContain('postgres://strata@127.0.0.1:9/strata')
    expect((down as Error).message).not.toContain('secret-pw')
  })
})
