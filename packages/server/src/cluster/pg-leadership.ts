// Leadership: the instance holding a session-level advisory lock on a connection of its own is the
// leader. PostgreSQL releases the lock when that session ends (the process died, the connection was cut
// or terminated), so leadership follows the connection: the leader checks it every poll and, on any
// error or a check that does not answer within the poll, takes itself for a follower at once, drops the
// connection and competes again. Followers try the lock every poll. A dead peer's socket is noticed by
// PostgreSQL through TCP keepalives set short on this session, so that a vanished leader frees the lock
// within about 15 s rather than hours. In the moment two instances both believe they lead, the tick
// table (claimTick) still lets each tick fire once.
import pg from 'pg'
import { closeSoon } from './pg-close.js'
import { LEADER_LOCK, LOCK_CLASS } from './pg-schema.js'

export interface LeadershipOptions {
  readonly connectionString: string
  /** How often a follower tries the lock and the leader checks its connection (ms). */
  readonly pollMs: number
  readonly onChange: (leader: boolean) => void
  readonly onError: (error: unknown) => void
}

const SESSION_OPTIONS =
  '-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c application_name=strata-leader'

export class PgLeadership {
  #client: pg.Client | undefined
  #leader = false
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #busy = false

  constructor(readonly options: LeadershipOptions) {}

  get leader(): boolean {
    return this.#leader
  }

  /** Competes now, then every poll. */
  async start(): Promise<void> {
    await this.#poll()
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    this.#set(false)
    // Ending the session releases the lock; no unlock query is needed (and a dead one would hang).
    if (client !== undefined) await closeSoon(client)
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.#poll().finally(() => this.#schedule()), this.options.pollMs)
    this.#timer.unref()
  }

  async #poll(): Promise<void> {
    if (this.#busy || this.#stopped) return
    this.#busy = true
    try {
      const client = this.#client ?? (await this.#connect())
      if (this.#leader) await client.query('SELECT 1')
      else {
        const { rows } = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1, $2) AS locked',
          [LOCK_CLASS, LEADER_LOCK],
        )
        if (rows[0]?.locked === true && !this.#stopped) this.#set(true)
      }
    } catch (error) {
      this.#lost(error)
    } finally {
      this.#busy = false
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      options: SESSION_OPTIONS,
      keepAlive: true,
      connectionTimeoutMillis: this.options.pollMs * 2,
      query_timeout: this.options.pollMs,
    })
    // Errors outside a query (the server terminated the session): leadership is gone with it.
    client.on('error', (error) => this.#lost(error, client))
    client.on('end', () => this.#lost(undefined, client))
    await client.connect()
    this.#client = client
    return client
  }

  #lost(error: unknown, client = this.#client): void {
    if (client !== this.#client) return
    this.#client = undefined
    this.#set(false)
    void client?.end().catch(() => undefined)
    if (error !== undefined && !this.#stopped) this.options.onError(error)
  }

  #set(leader: boolean): void {
    if (this.#leader === leader) return
    this.#leader = leader
    this.options.onChange(leader)
  }
}
