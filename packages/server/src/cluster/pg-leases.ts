// Run ownership: a row per run with a lease on the database's clock (no trust in hosts' clocks). The
// owner renews its leases every heartbeat; a run whose lease expired (its owner died or lost the
// database longer than a lease) is taken by one sweeping instance, atomically (FOR UPDATE SKIP LOCKED,
// then the update), marked interrupted, and handed to that instance to resume. An owner whose renewal
// finds a run no longer its own learns that it was presumed dead and stops the run (fencing); so does an
// owner that could not renew for a whole lease, since by then another instance may have taken its runs.
import type pg from 'pg'
import { ClusterError } from './cluster-error.js'
import type { ClusterRun, OrphanRun } from './coordinator.js'

export interface LeaseOptions {
  readonly pool: pg.Pool
  readonly instanceId: string
  readonly leaseMs: number
}

interface RunRowDb {
  run_id: string
  job_id: string
  schedule_id: string | null
  owner: string
}

/** At most this many orphans are taken per sweep, so that one instance does not take them all at once. */
const SWEEP_BATCH = 10

export class PgLeases {
  readonly #mine = new Set<string>()
  /** Releases under way, awaited before the pool closes (a server stopping releases its runs). */
  readonly #releasing = new Set<Promise<unknown>>()
  /** When the last renewal that succeeded was asked (this host's clock, only compared with itself). */
  #renewedAt = Date.now()

  constructor(readonly options: LeaseOptions) {}

  async claim(run: ClusterRun): Promise<void> {
    const { pool, instanceId, leaseMs } = this.options
    const asked = Date.now()
    try {
      await pool.query(
        `INSERT INTO strata_cluster_runs (run_id, job_id, schedule_id, owner, status, lease_until)
         VALUES ($1, $2, $3, $4, 'running', now() + make_interval(secs => $5::double precision / 1000))`,
        [run.runId, run.jobId, run.scheduleId ?? null, instanceId, leaseMs],
      )
    } catch (error) {
      if ((error as { code?: string }).code === '23505')
        throw new ClusterError(
          'JOB_RUNNING_ELSEWHERE',
          `job '${run.jobId}' is running on another server instance (run '${run.runId}' was refused)`,
          { cause: error },
        )
      throw unavailable(`cannot record run '${run.runId}'`, error)
    }
    if (this.#mine.size === 0) this.#renewedAt = asked
    this.#mine.add(run.runId)
  }

  release(runId: string, status: string): Promise<void> {
    const done = this.#release(runId, status)
    const settled = done.catch(() => undefined).finally(() => this.#releasing.delete(settled))
    this.#releasing.add(settled)
    return done
  }

  async settled(): Promise<void> {
    await Promise.all(this.#releasing)
  }

  async #release(runId: string, status: string): Promise<void> {
    this.#mine.delete(runId)
    try {
      await this.options.pool.query(
        `UPDATE strata_cluster_runs SET status = $3, ended_at = now()
         WHERE run_id = $1 AND owner = $2 AND status = 'running'`,
        [runId, this.options.instanceId, status.slice(0, 40)],
      )
    } catch (error) {
      throw unavailable(`cannot record the end of run '${runId}'`, error)
    }
  }

  /** Renews this instance's leases; returns the runs it held that another instance took. */
  async renew(): Promise<string[]> {
    const asked = Date.now()
    if (this.#mine.size === 0) {
      this.#renewedAt = asked
      return []
    }
    const ids = [...this.#mine]
    let rows: { run_id: string }[]
    try {
      // A renewal gets a third of a lease; failing for two thirds, the runs are given up before their
      // lease can expire under them (another instance may take them from then on).
      ;({ rows } = await this.options.pool.query<{ run_id: string }>({
        text: `UPDATE strata_cluster_runs
               SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
               WHERE run_id = ANY($1) AND owner = $2 AND status = 'running' RETURNING run_id`,
        values: [ids, this.options.instanceId, this.options.leaseMs],
        query_timeout: Math.ceil(this.options.leaseMs / 3),
      } as pg.QueryConfig))
    } catch (error) {
      if (Date.now() - this.#renewedAt < (this.options.leaseMs * 2) / 3) throw error
      this.#mine.clear()
      return ids
    }
    this.#renewedAt = asked
    const kept = new Set(rows.map((r) => r.run_id))
    const lost = ids.filter((id) => !kept.has(id))
    for (const id of lost) this.#mine.delete(id)
    return lost
  }

  /** Takes runs whose lease expired: each is returned to exactly one sweeping instance. */
  async sweep(): Promise<OrphanRun[]> {
    const { rows } = await this.options.pool.query<RunRowDb>(
      `WITH expired AS (
         SELECT run_id, owner FROM strata_cluster_runs
         WHERE status = 'running' AND lease_until < now() AND owner <> $1
         ORDER BY lease_until LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED)
       UPDATE strata_cluster_runs r
       SET status = 'interrupted', resumed_by = $1, ended_at = now()
       FROM expired WHERE r.run_id = expired.run_id
       RETURNING r.run_id, r.job_id, r.schedule_id, expired.owner`,
      [this.options.instanceId],
    )
    return rows.map((r) => ({
      runId: r.run_id,
      jobId: r.job_id,
      owner: r.owner,
      ...(r.schedule_id === null ? {} : { scheduleId: r.schedule_id }),
    }))
  }
}

export function unavailable(what: string, cause: unknown): ClusterError {
  const why = cause instanceof Error ? cause.message : String(cause)
  return new ClusterError('CLUSTER_UNAVAILABLE', `${what}: the coordination database failed (${why})`, {
    cause,
  })
}
