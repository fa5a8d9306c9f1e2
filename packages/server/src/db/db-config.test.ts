import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readServerConfig } from '../config.js'
import { numberedPlaceholders } from './placeholders.js'
import { describeDatabaseUrl } from './db-errors.js'

const file = (toml: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-db-config-'))
  writeFileSync(join(dir, 'config.toml'), toml)
  return join(dir, 'config.toml')
}
const dataDir = (): string => mkdtempSync(join(tmpdir(), 'strata-db-data-'))

describe('where the store is', () => {
  it('is SQLite without a URL; --db, then STRATA_DB_URL, then the file name PostgreSQL', () => {
    expect(readServerConfig({ dataDir: dataDir() }, {}).db).toBeUndefined()
    const configFile = file('[db]\nurl = "postgres://strata@db.example/strata"\npassword = "from-file"\n')
    expect(readServerConfig({ dataDir: dataDir(), configFile }, {}).db).toEqual({
      url: 'postgres://strata@db.example/strata',
      password: 'from-file',
    })
    const env = { STRATA_DB_URL: 'postgresql://env@db.example/strata' }
    expect(readServerConfig({ dataDir: dataDir(), configFile }, env).db?.url).toBe(env.STRATA_DB_URL)
    expect(readServerConfig({ dataDir: dataDir(), configFile, db: 'postgres://flag@h/d' }, env).db).toEqual({
      url: 'postgres://flag@h/d',
    })
  })

  it('refuses what is not a PostgreSQL URL naming a host and a database, without showing a password', () => {
    const bad = (db: string) => () => readServerConfig({ dataDir: dataDir(), db }, {})
    expect(bad('mysql://u:hunter2@h/d')).toThrow(/--db: mysql:\/\/u@h\/d is not a postgres:\/\/ URL/)
    expect(bad('mysql://u:hunter2@h/d')).not.toThrow(/hunter2/)
    expect(bad('postgres://u@h')).toThrow(/names no host or no database/)
    expect(bad('not a url')).toThrow(/not a URL/)
    expect(() =>
      readServerConfig({ dataDir: dataDir(), configFile: file('[db]\nhost = "h"\n') }, {}),
    ).toThrow(/unknown field 'db.host'/)
  })
})

describe('the SQL text for PostgreSQL', () => {
  it('numbers ? placeholders, leaving those in strings, quoted names and comments', () => {
    expect(
      numberedPlaceholders(`SELECT a FROM t WHERE b = ? AND c = '?''?' AND "d?" = ? -- ?\nLIMIT ?`),
    ).toBe(`SELECT a FROM t WHERE b = $1 AND c = '?''?' AND "d?" = $2 -- ?\nLIMIT $3`)
  })

  it('names a database URL without its password', () => {
    expect(describeDatabaseUrl('postgres://strata:s3cret@db:5432/strata?sslmode=require')).toBe(
      'postgres://strata@db:5432/strata',
    )
  })
})
