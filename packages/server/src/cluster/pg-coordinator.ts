// Several server instances on one PostgreSQL database (docs/scale-out.md, "Several servers"): the
// leader holds an advisory lock on a connection of its own (pg-leadership.ts), ticks are rows whose key
// makes them fire once (INSERT ... ON CONFLICT DO NOTHING), runs are leased (pg-leases.ts) and live
// events go over LISTEN/NOTIFY (pg-events.ts). The coordinator keeps to its own tables, so it works
// whatever store the server keeps its records in.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import pg from 'pg'
import { errorMessage } from '@strata/core'
import { ClusterError } from './cluster-error.js'
import type { ClusterEvent, ClusterRun, Coordinator, OrphanRun } from './coordinator.js'
import { closeSoon } from './pg-close.js'
import { PgEvents } from './pg-events.js'
import { PgLeadership } from './pg-leadership.js'
import { PgLeases, unavailable } from './pg-leases.js'
import { ensureSchema } from './pg-schema.js'

export interface PgCoordinatorOptions {
  readonly connectionString: string
  /** How long a run's lease lasts without renewal (15 s): how soon a dead instance's runs are resumed. */
  readonly leaseMs?: number
  /** How often leadership is checked and competed for (2 s). */
  readonly pollMs?: number
  /** Where the coordinator reports what goes wrong (the server's log). */
  readonly log?: (severity: 'info' | 'warn' | 'error', message: string) => void
  /** A name for this instance (hostname and a random suffix by default). */
  readonly instanceId?: string
}

export class PgCoordinator implements Coordinator {
  readonly instanceId: string
  readonly shared = true
  readonly #pool: pg.Pool
  readonly #leadership: PgLeadership
  readonly #leases: PgLeases
  readonly #events: PgEvents
  readonly #listeners = {
    leadership: new Set<(leader: boolean) => void>(),
    orphan: new Set<(run: OrphanRun) => void>(),
    lost: new Set<(runId: string) => void>(),
    event: new Set<(event: ClusterEvent) => void>(),
  }
  readonly #leaseMs: number
  #timer: NodeJS.Timeout | undefined
  #state: 'new' | 'started' | 'stopped' = 'new'

  constructor(readonly options: PgCoordinatorOptions) {
    this.instanceId = (options.instanceId ?? `${hostname()}-${randomBytes(4).toString('hex')}`).slice(0, 100)
    this.#leaseMs = options.leaseMs ?? 15_000
    const { connectionString } = options
    // A query that does not answer within a lease fails: renewals must not wait past their lease.
    this.#pool = new pg.Pool({
      connectionString,
      max: 4,
      keepAlive: true,
      connectionTimeoutMillis: this.#leaseMs,
      query_timeout: this.#leaseMs,
    })
    this.#pool.on('error', (error) => this.#report('warn', 'a pooled connection failed', error))
    this.#leadership = new PgLeadership({
      connectionString,
      pollMs: options.pollMs ?? 2000,
      onChange: (leader) => this.#leadershipChanged(leader),
      onError: (error) => this.#report('warn', 'the leadership connection failed', error),
    })
    this.#leases = new PgLeases({ pool: this.#pool, instanceId: this.instanceId, leaseMs: this.#leaseMs })
    this.#events = new PgEvents({
      connectionString,
      pool: this.#pool,
      instanceId: this.instanceId,
      reconnectMs: options.pollMs ?? 2000,
      deliver: (event) => this.#listeners.event.forEach((l) => l(event)),
      onError: (error) => this.#report('warn', 'a cluster event was lost', error),
    })
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.#state !== 'new')
      throw new ClusterError('CLUSTER_STOPPED', 'the coordinator was started already')
    signal?.throwIfAborted()
    try {
      await ensureSchema(this.#pool)
      await this.#events.start()
      await this.#leadership.start()
    } catch (error) {
      await this.#close()
      throw unavailable('cannot join the cluster', error)
    }
    this.#state = 'started'
    this.#beat()
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    clearTimeout(this.#timer)
    await this.#close()
  }

  isLeader(): boolean {
    return this.#state === 'started' && this.#leadership.leader
  }

  onLeadership(listener: (leader: boolean) => void): () => void {
    return subscribe(this.#listeners.leadership, listener)
  }

  async claimTick(jobId: string, scheduleId: string, dueAt: number, signal?: AbortSignal): Promise<boolean> {
    this.#check(signal)
    try {
      const { rowCount } = await this.#pool.query(
        `INSERT INTO strata_cluster_ticks (job_id, schedule_id, due_at, instance) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING`,
        [jobId, scheduleId, dueAt, this.instanceId],
      )
      return rowCount === 1
    } catch (error) {
      throw unavailable(`cannot claim the tick of schedule '${scheduleId}' of job '${jobId}'`, error)
    }
  }

  async lastTick(jobId: string, scheduleId: string, signal?: AbortSignal): Promise<number | undefined> {
    this.#check(signal)
    try {
      const { rows } = await this.#pool.query<{ due_at: string | null }>(
        'SELECT max(due_at) AS due_at FROM strata_cluster_ticks WHERE job_id = $1 AND schedule_id = $2',
        [jobId, scheduleId],
      )
      const due = rows[0]?.due_at
      return due === null || due === undefined ? undefined : Number(due)
    } catch (error) {
      throw unavailable(`cannot read the ticks of schedule '${scheduleId}' of job '${jobId}'`, error)
    }
  }

  claimRun(run: ClusterRun, signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    return this.#leases.claim(run)
  }

  releaseRun(runId: string, status: string, signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    return this.#leases.release(runId, status)
  }

  onOrphan(listener: (run: OrphanRun) => void): () => void {
    return subscribe(this.#listeners.orphan, listener)
  }

  onLost(listener: (runId: string) => void): () => void {
    return subscribe(this.#listeners.lost, listener)
  }

  publish(event: ClusterEvent): void {
    if (this.#state === 'started') this.#events.publish(event)
  }

  subscribe(listener: (event: ClusterEvent) => void): () => void {
    return subscribe(this.#listeners.event, listener)
  }

  /** Resolves once the events published so far are sent (tests). */
  flushed(): Promise<void> {
    return this.#events.flushed()
  }

  /** Renews the leases, then takes expired ones, every third of a lease. */
  #beat(): void {
    this.#timer = setTimeout(() => {
      void this.#heartbeat().finally(() => {
        if (this.#state === 'started') this.#beat()
      })
    }, this.#leaseMs / 3)
    this.#timer.unref()
  }

  async #heartbeat(): Promise<void> {
    try {
      for (const runId of await this.#leases.renew()) {
        this.#report('warn', `run '${runId}' is no longer this instance's: stopping it here`)
        this.#listeners.lost.forEach((l) => l(runId))
      }
      for (const run of await this.#leases.sweep()) {
        this.#report('warn', `run '${run.runId}' of instance '${run.owner}' lost its owner: resuming it here`)
        this.#listeners.orphan.forEach((l) => l(run))
      }
    } catch (error) {
      this.#report('warn', 'cannot renew or sweep run leases', error)
    }
  }

  #leadershipChanged(leader: boolean): void {
    this.#report('info', leader ? 'this instance leads the cluster now' : 'this instance no longer leads')
    for (const listener of this.#listeners.leadership) listener(leader)
  }

  #check(signal?: AbortSignal): void {
    signal?.throwIfAborted()
    if (this.#state !== 'started')
      throw new ClusterError(
        'CLUSTER_STOPPED',
        `the coordinator of instance '${this.instanceId}' is not running`,
      )
  }

  async #close(): Promise<void> {
    await this.#leases.settled()
    await this.#leadership.stop()
    await this.#events.stop()
    await closeSoon(this.#pool)
  }

  #report(severity: 'info' | 'warn' | 'error', message: string, error?: unknown): void {
    this.options.log?.(severity, error === undefined ? message : `${message}: ${errorMessage(error)}`)
  }
}

function subscribe<T>(set: Set<T>, listener: T): () => void {
  set.add(listener)
  return () => set.delete(listener)
}
