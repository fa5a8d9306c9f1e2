// PostgreSQL behind the SQL seam: a bounded pool of connections (pg.Pool), each statement under a
// timeout, an aborted call cancelled on the server (pg_cancel_backend), `?` placeholders numbered for
// PostgreSQL. A transaction holds one connection; every call awaited inside it (the async context
// says which) runs on that connection, so a store's helper joins the transaction instead of taking
// a second connection.
import { AsyncLocalStorage } from 'node:async_hooks'
import pg from 'pg'
import type { Db, RunResult, SqlValue } from './db-handle.js'
import { databaseError, describeDatabaseUrl } from './db-errors.js'
import { numberedPlaceholders } from './placeholders.js'

export interface PgOptions {
  /** postgres://user@host:port/database; the password may be apart (the config file, PGPASSWORD). */
  readonly url: string
  readonly password?: string
  /** Connections at most (default 10): several server instances share one PostgreSQL. */
  readonly maxConnections?: number
  /** A statement running longer is cancelled by the server (default 30 s). */
  readonly statementTimeoutMs?: number
  /** How long to wait for a connection (default 10 s). */
  readonly connectTimeoutMs?: number
}

interface Scope {
  readonly client: pg.PoolClient
  open: boolean
  depth: number
}

// BIGINT (int8: COUNT(*)) and NUMERIC (SUM of BIGINTs) arrive as numbers, as from SQLite: every value
// the stores keep or add up (times in ms, byte counts) is below 2^53.
const AS_NUMBER = new Set([20, 1700])
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    AS_NUMBER.has(oid)
      ? (text: string) => Number(text)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
}

export class PgDb implements Db {
  readonly dialect = 'postgres' as const
  readonly #pool: pg.Pool
  readonly #scope = new AsyncLocalStorage<Scope>()
  readonly #where: string

  constructor(options: PgOptions) {
    this.#where = describeDatabaseUrl(options.url)
    this.#pool = new pg.Pool({
      connectionString: options.url,
      ...(options.password === undefined ? {} : { password: options.password }),
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      idleTimeoutMillis: 30_000,
      application_name: 'strata-server',
      types,
    })
    // An idle connection that dies (the server restarted) must not crash the process: the pool drops
    // it, and the next query opens another.
    this.#pool.on('error', () => undefined)
  }

  async all<T>(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<T[]> {
    return (await this.#query(sql, params, signal)).rows as T[]
  }

  async get<T>(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<T | undefined> {
    return (await this.#query(sql, params, signal)).rows[0] as T | undefined
  }

  async run(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<RunResult> {
    return { changes: (await this.#query(sql, params, signal)).rowCount ?? 0 }
  }

  async exec(script: string, signal?: AbortSignal): Promise<void> {
    await this.#query(script, undefined, signal)
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const scope = this.#current()
    if (scope !== undefined) return this.#savepoint(scope, fn, signal)
    signal?.throwIfAborted()
    const client = await this.#connect()
    const mine: Scope = { client, open: true, depth: 0 }
    let broken: unknown
    try {
      return await this.#scope.run(mine, async () => {
        await this.#on(client, 'BEGIN', undefined, signal)
        try {
          const result = await fn(this)
          await this.#on(client, 'COMMIT', undefined, signal)
          return result
        } catch (error) {
          await client.query('ROLLBACK').catch((e: unknown) => (broken = e))
          throw error
        }
      })
    } finally {
      mine.open = false
      // A connection whose rollback failed is in an unknown state: destroyed, not reused.
      client.release(broken instanceof Error ? broken : undefined)
    }
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }

  async #savepoint<T>(scope: Scope, fn: (tx: Db) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const name = `sp${++scope.depth}`
    try {
      await this.#on(scope.client, `SAVEPOINT ${name}`, undefined, signal)
      try {
        const result = await fn(this)
        await this.#on(scope.client, `RELEASE SAVEPOINT ${name}`, undefined, signal)
        return result
      } catch (error) {
        await scope.client.query(`ROLLBACK TO SAVEPOINT ${name}`)
        throw error
      }
    } finally {
      scope.depth--
    }
  }

  #current(): Scope | undefined {
    const scope = this.#scope.getStore()
    return scope?.open === true ? scope : undefined
  }

  async #query(
    sql: string,
    params: readonly SqlValue[] | undefined,
    signal?: AbortSignal,
  ): Promise<pg.QueryResult> {
    signal?.throwIfAborted()
    const scope = this.#current()
    if (scope !== undefined) return this.#on(scope.client, sql, params, signal)
    const client = await this.#connect()
    let failed: Error | undefined
    try {
      return await this.#on(client, sql, params, signal)
    } catch (error) {
      // A connection lost mid-query is not given back to the pool.
      if (isConnectionError(error)) failed = error as Error
      throw error
    } finally {
      client.release(failed)
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect()
    } catch (error) {
      throw databaseError(error, this.#where)
    }
  }

  /** One statement on one connection; an abort cancels it on the server. */
  async #on(
    client: pg.PoolClient,
    sql: string,
    params: readonly SqlValue[] | undefined,
    signal?: AbortSignal,
  ): Promise<pg.QueryResult> {
    signal?.throwIfAborted()
    const cancel = (): void => {
      const pid = (client as unknown as { processID?: number }).processID
      if (pid !== undefined) this.#pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined)
    }
    signal?.addEventListener('abort', cancel, { once: true })
    try {
      return params === undefined
        ? await client.query(sql)
        : await client.query(numberedPlaceholders(sql), params as SqlValue[])
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason
      throw databaseError(error, this.#where)
    } finally {
      signal?.removeEventListener('abort', cancel)
    }
  }
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'DATABASE_UNREACHABLE'
}
