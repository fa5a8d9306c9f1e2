// The embedded database behind the SQL seam: better-sqlite3, synchronous, one connection. Each statement
// runs whole within one turn of the event loop; a transaction spans awaits, so while one is open the
// statements from outside it wait for its end (they would join it otherwise, and be rolled back with
// it). Which calls are inside is known from the async context (AsyncLocalStorage), so a store's helper
// called from within a transaction joins it instead of waiting for it forever.
import { AsyncLocalStorage } from 'node:async_hooks'
import type Database from 'better-sqlite3'
import type { Db, RunResult, SqlValue } from './db-handle.js'

interface Scope {
  open: boolean
  depth: number
}

/** Prepared statements kept (the stores use a bounded set of texts; a bound keeps dynamic ones in check). */
const STATEMENT_CACHE = 256

export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const
  readonly #scope = new AsyncLocalStorage<Scope>()
  readonly #statements = new Map<string, Database.Statement>()
  #busy: Promise<unknown> | undefined

  constructor(readonly raw: Database.Database) {}

  all<T>(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<T[]> {
    return this.#when(signal, () => this.#statement(sql).all(...params) as T[])
  }

  get<T>(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<T | undefined> {
    return this.#when(signal, () => this.#statement(sql).get(...params) as T | undefined)
  }

  run(sql: string, params: readonly SqlValue[] = [], signal?: AbortSignal): Promise<RunResult> {
    return this.#when(signal, () => ({ changes: this.#statement(sql).run(...params).changes }))
  }

  exec(script: string, signal?: AbortSignal): Promise<void> {
    return this.#when(signal, () => void this.raw.exec(script))
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const scope = this.#current()
    if (scope !== undefined) return this.#savepoint(scope, fn)
    const done = await this.#when(signal, () => {
      const mine = { open: true, depth: 0 }
      const running = this.#scope.run(mine, () => this.#begin(mine, fn))
      this.#busy = running
      return running
    })
    return done
  }

  async close(): Promise<void> {
    while (this.#busy !== undefined) await this.#busy.catch(() => undefined)
    this.#statements.clear()
    this.raw.close()
  }

  async #savepoint<T>(scope: Scope, fn: (tx: Db) => Promise<T>): Promise<T> {
    const name = `sp${++scope.depth}`
    this.raw.exec(`SAVEPOINT ${name}`)
    try {
      const result = await fn(this)
      this.raw.exec(`RELEASE ${name}`)
      return result
    } catch (error) {
      this.raw.exec(`ROLLBACK TO ${name}`)
      this.raw.exec(`RELEASE ${name}`)
      throw error
    } finally {
      scope.depth--
    }
  }

  #current(): Scope | undefined {
    const scope = this.#scope.getStore()
    return scope?.open === true ? scope : undefined
  }

  // IMMEDIATE: the write lock from the start, so that another process's writer cannot make this one's
  // first write fail half way through.
  async #begin<T>(mine: Scope, fn: (tx: Db) => Promise<T>): Promise<T> {
    this.raw.exec('BEGIN IMMEDIATE')
    try {
      const result = await fn(this)
      this.raw.exec('COMMIT')
      return result
    } catch (error) {
      this.raw.exec('ROLLBACK')
      throw error
    } finally {
      mine.open = false
      this.#busy = undefined
    }
  }

  /**
   * Runs `work` once no transaction this call is outside of is open. The check and the work share one
   * synchronous step: nothing can begin a transaction between them.
   */
  async #when<T>(signal: AbortSignal | undefined, work: () => T): Promise<T> {
    for (;;) {
      signal?.throwIfAborted()
      if (this.#busy === undefined || this.#current() !== undefined) return work()
      await this.#busy.catch(() => undefined)
    }
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.raw.prepare(sql)
      if (this.#statements.size >= STATEMENT_CACHE) this.#statements.clear()
      this.#statements.set(sql, statement)
    }
    return statement
  }
}
