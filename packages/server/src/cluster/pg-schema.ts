// The coordinator's own tables, made idempotently at start (several instances may start at once: a
// transaction-scoped advisory lock serialises them, since concurrent CREATE TABLE IF NOT EXISTS can
// still collide in PostgreSQL's catalog). They hold coordination only; the records of runs, jobs and the
// rest are the store's.
import type pg from 'pg'

/** The advisory lock space of the cluster (pg_try_advisory_lock(int, int)): 'St' in ASCII. */
export const LOCK_CLASS = 0x5374
export const SCHEMA_LOCK = 1
export const LEADER_LOCK = 2

export const EVENTS_CHANNEL = 'strata_cluster_events'

const DDL = [
  // One row per fired tick: the primary key is what makes a tick fire once.
  `CREATE TABLE IF NOT EXISTS strata_cluster_ticks (
     job_id text NOT NULL,
     schedule_id text NOT NULL,
     due_at bigint NOT NULL,
     instance text NOT NULL,
     claimed_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (job_id, schedule_id, due_at))`,
  `CREATE TABLE IF NOT EXISTS strata_cluster_runs (
     run_id text PRIMARY KEY,
     job_id text NOT NULL,
     schedule_id text,
     owner text NOT NULL,
     status text NOT NULL,
     lease_until timestamptz NOT NULL,
     resumed_by text,
     started_at timestamptz NOT NULL DEFAULT now(),
     ended_at timestamptz)`,
  // A job runs on one instance at a time, cluster-wide.
  `CREATE UNIQUE INDEX IF NOT EXISTS strata_cluster_runs_one_per_job
     ON strata_cluster_runs (job_id) WHERE status = 'running'`,
  `CREATE INDEX IF NOT EXISTS strata_cluster_runs_lease
     ON strata_cluster_runs (lease_until) WHERE status = 'running'`,
  // Events too large for a NOTIFY payload: the notification carries the row's id.
  `CREATE TABLE IF NOT EXISTS strata_cluster_events (
     id bigserial PRIMARY KEY,
     payload text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now())`,
]

export async function ensureSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, SCHEMA_LOCK])
    for (const sql of DDL) await client.query(sql)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}
