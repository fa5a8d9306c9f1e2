// The test PostgreSQL server: the run's shared one answers SQL in databases tests create, and a
// server started and stopped here leaves no process and no directory behind.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { usePostgres } from './postgres-inject.js'
import { postgresBinDir, postgresDatabase, startPostgresServer } from './postgres-server.js'

const run = promisify(execFile)

async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run(join(postgresBinDir(), 'psql'), ['-X', '-A', '-t', '-d', url, '-c', sql])
  return stdout.trim()
}

describe('the test PostgreSQL server', () => {
  it('gives each test a database of its own on the run-wide server', async () => {
    const server = usePostgres()
    const [a, b] = [await postgresDatabase(server), await postgresDatabase(server)]
    expect(a).not.toBe(b)
    await psql(a, 'create table t (x int); insert into t values (42)')
    expect(await psql(a, 'select x from t')).toBe('42')
    await expect(psql(b, 'select x from t')).rejects.toThrow(/does not exist/)
  })

  it('refuses a wrong password', async () => {
    const server = usePostgres()
    const url = await postgresDatabase(server)
    await expect(psql(url.replace(encodeURIComponent(server.password), 'wrong'), 'select 1')).rejects.toThrow(
      /password authentication failed/,
    )
  })

  it('stops without leaving its process or directory behind', async () => {
    const server = await startPostgresServer()
    const url = await postgresDatabase(server)
    expect(await psql(url, 'select 1')).toBe('1')
    await server.stop()
    expect(existsSync(server.dir)).toBe(false)
    await expect(psql(url, 'select 1')).rejects.toThrow()
  })
})
