// Where the server's store is: SQLite in the data directory (the default), or PostgreSQL named by
// `--db postgres://...`, STRATA_DB_URL or the config file's `db` (a URL, or { url, password }). The
// password need not be in the URL: the config file's db.password, or PGPASSWORD (node-postgres reads
// it), keep it off command lines.
import { ConfigError } from '../config-error.js'
import { describeDatabaseUrl } from './db-errors.js'

export interface DatabaseSetting {
  readonly url: string
  readonly password?: string
}

/** The `db` field of a config file: a URL, or a table of url and password. */
export function parseDatabaseSetting(value: unknown, path: string): DatabaseSetting {
  if (typeof value === 'string') return { url: checkUrl(value, `${path}: db`) }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(`${path}: db is a postgres:// URL, or { url = "postgres://...", password = "..." }`)
  const { url, password, ...rest } = value as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new ConfigError(`${path}: unknown field 'db.${extra}'`)
  if (typeof url !== 'string') throw new ConfigError(`${path}: db.url is a postgres:// URL`)
  if (password !== undefined && (typeof password !== 'string' || password === ''))
    throw new ConfigError(`${path}: db.password is a string`)
  return { url: checkUrl(url, `${path}: db.url`), ...(password === undefined ? {} : { password }) }
}

/** The URL given by a flag or the environment: only PostgreSQL's (SQLite needs none). */
export function databaseFromUrl(url: string, where: string): DatabaseSetting {
  return { url: checkUrl(url, where) }
}

function checkUrl(url: string, where: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`${where}: not a URL (postgres://user@host:5432/database)`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new ConfigError(
      `${where}: ${describeDatabaseUrl(url)} is not a postgres:// URL (without one, the server keeps SQLite in its data directory)`,
    )
  if (parsed.hostname === '' || parsed.pathname.length <= 1)
    throw new ConfigError(`${where}: ${describeDatabaseUrl(url)} names no host or no database`)
  if (url.length > 2000) throw new ConfigError(`${where}: the URL is too long`)
  return url
}

/** Whether the URL holds a password (on a command line, others can read it: ps, shell history). */
export function urlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== ''
  } catch {
    return false
  }
}
