// The server's SQL seam: the few calls every store makes, asynchronous so that a networked database
// (PostgreSQL) fits behind it as well as the embedded one (SQLite). Statements take `?` placeholders in
// both; each implementation translates what its dialect needs.

/** A value bound to a `?` placeholder (booleans are stored as 0/1 by the caller, as SQLite has none). */
export type SqlValue = string | number | bigint | null | Buffer

export type Dialect = 'sqlite' | 'postgres'

export interface RunResult {
  /** The rows the statement inserted, updated or deleted. */
  readonly changes: number
}

export interface Db {
  readonly dialect: Dialect
  all<T>(sql: string, params?: readonly SqlValue[], signal?: AbortSignal): Promise<T[]>
  get<T>(sql: string, params?: readonly SqlValue[], signal?: AbortSignal): Promise<T | undefined>
  run(sql: string, params?: readonly SqlValue[], signal?: AbortSignal): Promise<RunResult>
  /** Runs a script of statements without parameters (migrations, tests). */
  exec(script: string, signal?: AbortSignal): Promise<void>
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. Every call on
   * this handle made inside `fn` (awaited from it) joins the transaction; a nested call is a savepoint.
   */
  transaction<T>(fn: (tx: Db) => Promise<T>, signal?: AbortSignal): Promise<T>
  close(): Promise<void>
}
