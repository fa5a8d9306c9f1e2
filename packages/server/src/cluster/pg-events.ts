// Live events across instances over LISTEN/NOTIFY. One connection listens (reconnected when lost; what
// was published meanwhile is missed: these are live events, the records are in the store) and one
// publishes, so that an instance's events keep their order; arriving notifications are handled one at a
// time for the same reason, a referenced event being fetched before the next is delivered. Publishing
// is bounded: past MAX_PENDING unsent events, new ones are dropped and counted, rather than memory
// growing while the database is slow.
import pg from 'pg'
import { ClusterError } from './cluster-error.js'
import {
  MAX_EVENT_BYTES,
  encodeEvent,
  inlineNotice,
  parseNotice,
  parseStoredEvent,
  refNotice,
} from './cluster-events.js'
import type { ClusterEvent } from './coordinator.js'
import { closeSoon } from './pg-close.js'
import { EVENTS_CHANNEL } from './pg-schema.js'

export const MAX_PENDING = 10_000
/** Stored (large) events are kept this long for late readers, then deleted. */
const STORED_EVENT_TTL_S = 600

export interface EventsOptions {
  readonly connectionString: string
  readonly password?: string
  readonly pool: pg.Pool
  readonly instanceId: string
  readonly reconnectMs: number
  readonly deliver: (event: ClusterEvent) => void
  readonly onError: (error: unknown) => void
}

export class PgEvents {
  #listener: pg.Client | undefined
  #publisher: Promise<void> = Promise.resolve()
  #inbox: Promise<void> = Promise.resolve()
  #pending = 0
  #dropped = 0
  #stopped = false
  #closed = false
  #timer: NodeJS.Timeout | undefined
  #published = 0

  constructor(readonly options: EventsOptions) {}

  /** Events dropped because too many were waiting to be sent. */
  get dropped(): number {
    return this.#dropped
  }

  async start(): Promise<void> {
    await this.#listen()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    // What was published before the stop is sent if the database answers soon; the rest is dropped.
    await closeSoon({ end: () => this.#publisher })
    this.#closed = true
    const client = this.#listener
    this.#listener = undefined
    if (client !== undefined) await closeSoon(client)
  }

  publish(event: ClusterEvent): void {
    if (this.#stopped) return
    if (this.#pending >= MAX_PENDING) {
      this.#dropped++
      return
    }
    this.#pending++
    this.#publisher = this.#publisher
      .then(() => this.#send(event))
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => this.#pending--)
  }

  /** Resolves once everything published so far is sent (tests, stop). */
  flushed(): Promise<void> {
    return this.#publisher
  }

  async #send(event: ClusterEvent): Promise<void> {
    if (this.#closed) return
    const { pool, instanceId } = this.options
    let payload = inlineNotice(instanceId, event)
    if (payload === undefined) {
      const text = encodeEvent(event)
      if (Buffer.byteLength(text) > MAX_EVENT_BYTES)
        throw new ClusterError('CLUSTER_BAD_EVENT', `an event of run '${runOf(event)}' is too large to send`)
      const { rows } = await pool.query<{ id: string }>(
        'INSERT INTO strata_cluster_events (payload) VALUES ($1) RETURNING id',
        [text],
      )
      payload = refNotice(instanceId, rows[0]!.id)
      if (++this.#published % 100 === 1)
        await pool.query(
          `DELETE FROM strata_cluster_events WHERE created_at < now() - make_interval(secs => ${STORED_EVENT_TTL_S})`,
        )
    }
    await pool.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, payload])
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      ...(this.options.password === undefined ? {} : { password: this.options.password }),
      keepAlive: true,
    })
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL && message.payload !== undefined) this.#receive(message.payload)
    })
    client.on('error', (error) => this.#lost(client, error))
    client.on('end', () => this.#lost(client))
    await client.connect()
    await client.query(`LISTEN ${EVENTS_CHANNEL}`)
    this.#listener = client
  }

  #receive(payload: string): void {
    this.#inbox = this.#inbox
      .then(async () => {
        const notice = parseNotice(payload)
        if (notice.from === this.options.instanceId) return
        if ('event' in notice) return this.options.deliver(notice.event)
        const { rows } = await this.options.pool.query<{ payload: string }>(
          'SELECT payload FROM strata_cluster_events WHERE id = $1',
          [notice.ref],
        )
        if (rows[0] !== undefined) this.options.deliver(parseStoredEvent(rows[0].payload))
      })
      .catch((error: unknown) => this.options.onError(error))
  }

  #lost(client: pg.Client, error?: unknown): void {
    if (client !== this.#listener) return
    this.#listener = undefined
    void client.end().catch(() => undefined)
    if (this.#stopped) return
    if (error !== undefined) this.options.onError(error)
    const retry = (): void => {
      if (this.#stopped) return
      this.#listen().catch((e: unknown) => {
        this.options.onError(e)
        this.#timer = setTimeout(retry, this.options.reconnectMs).unref()
      })
    }
    this.#timer = setTimeout(retry, this.options.reconnectMs).unref()
  }
}

function runOf(event: ClusterEvent): string {
  return event.type === 'task' ? event.runId : event.type === 'run' ? event.row.runId : event.type
}
