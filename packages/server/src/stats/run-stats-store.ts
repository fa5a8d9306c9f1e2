// What charts and metrics read about runs: the bytes each finished run read and stored and the size
// of its disks (table run_stats, written once the run's record is final), and the last successful
// backup of each job's VMs (vm_last_success). Runs themselves stay in the runs table; restores are not
// jobs and are left out. Every query is bounded (a window of days, jobs that exist).
import type { RunStat } from '@strata/contract'
import type { Db } from '../db/database.js'
import type { RunRow } from '../runs/run-store.js'

export interface RunTotals {
  readonly bytesRead: number
  readonly bytesStored: number
  readonly size: number
}

export interface VmLastSuccess {
  readonly jobId: string
  readonly vmUuid: string
  readonly vmName: string
  readonly time: number
}

interface StatRow {
  run_id: string
  job_id: string
  job_name: string
  status: RunStat['status']
  start: number
  end: number
  bytes_read: number | null
  bytes_stored: number | null
  size: number | null
}

export class RunStatsStore {
  constructor(readonly db: Db) {}

  /** A finished run: its totals, and the last success of each of its VMs that succeeded. */
  async record(row: RunRow, totals: RunTotals): Promise<void> {
    if (row.end === undefined) return
    const end = row.end
    await this.db.transaction(async () => {
      await this.db.run(
        'INSERT INTO run_stats (run_id, bytes_read, bytes_stored, size) VALUES (?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE SET bytes_read = excluded.bytes_read, bytes_stored = excluded.bytes_stored, size = excluded.size',
        [row.runId, totals.bytesRead, totals.bytesStored, totals.size],
      )
      if (row.kind === 'restore') return
      for (const vm of row.vms ?? [])
        if (vm.status === 'success')
          await this.db.run(
            'INSERT INTO vm_last_success (job_id, vm_uuid, vm_name, time) VALUES (?, ?, ?, ?) ON CONFLICT(job_id, vm_uuid) DO UPDATE SET vm_name = excluded.vm_name, time = excluded.time WHERE excluded.time >= vm_last_success.time',
            [row.jobId, vm.uuid, vm.name, end],
          )
    })
  }

  /** Finished runs of jobs started since `since`, oldest first, with their totals when recorded. */
  async runs(filter: { since: number; jobId?: string; limit?: number }): Promise<RunStat[]> {
    const rows = (await this.db.all(
      `SELECT r.run_id, r.job_id, r.job_name, r.status, r.start, r."end", s.bytes_read, s.bytes_stored, s.size
         FROM runs r LEFT JOIN run_stats s ON s.run_id = r.run_id
         WHERE r.kind != 'restore' AND r."end" IS NOT NULL AND r.start >= ? ${filter.jobId === undefined ? '' : 'AND r.job_id = ?'}
         ORDER BY r.start DESC LIMIT ?`,
      [...[filter.since, ...(filter.jobId === undefined ? [] : [filter.jobId]), filter.limit ?? 5000]],
    )) as StatRow[]
    return rows.reverse().map(toStat)
  }

  /** When each job last succeeded (the end of its last successful run). */
  async lastSuccessByJob(): Promise<Map<string, number>> {
    const rows = (await this.db.all(
      "SELECT job_id, MAX(\"end\") AS time FROM runs WHERE status = 'success' AND kind != 'restore' GROUP BY job_id",
    )) as { job_id: string; time: number }[]
    return new Map(rows.map((r) => [r.job_id, r.time]))
  }

  async vmLastSuccess(): Promise<VmLastSuccess[]> {
    return (
      (await this.db.all('SELECT * FROM vm_last_success ORDER BY job_id, vm_name')) as {
        job_id: string
        vm_uuid: string
        vm_name: string
        time: number
      }[]
    ).map((r) => ({ jobId: r.job_id, vmUuid: r.vm_uuid, vmName: r.vm_name, time: r.time }))
  }

  /** Finished runs of each job by state (the runs_total counter). */
  async runCounts(): Promise<{ jobId: string; status: string; count: number }[]> {
    return (await this.db.all(
      "SELECT job_id AS \"jobId\", status, COUNT(*) AS count FROM runs WHERE kind != 'restore' AND status != 'pending' GROUP BY job_id, status",
    )) as { jobId: string; status: string; count: number }[]
  }

  /** Bytes read and stored by each job's runs, ever (the bytes counters). */
  async byteTotals(): Promise<{ jobId: string; bytesRead: number; bytesStored: number }[]> {
    return (await this.db.all(
      'SELECT r.job_id AS "jobId", SUM(s.bytes_read) AS "bytesRead", SUM(s.bytes_stored) AS "bytesStored" FROM run_stats s JOIN runs r ON r.run_id = s.run_id GROUP BY r.job_id',
    )) as { jobId: string; bytesRead: number; bytesStored: number }[]
  }

  /** Each job's last finished run. */
  async lastRuns(): Promise<{ jobId: string; status: string; start: number; end: number }[]> {
    return (await this.db.all(
      // The newest end of each job (the newest run id on a tie), in SQL both dialects take.
      `SELECT r.job_id AS "jobId", r.status, r.start, r."end" FROM runs r
         WHERE r.kind != 'restore' AND r."end" IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM runs x WHERE x.job_id = r.job_id AND x.kind != 'restore' AND x."end" IS NOT NULL
             AND (x."end" > r."end" OR (x."end" = r."end" AND x.run_id > r.run_id)))`,
    )) as { jobId: string; status: string; start: number; end: number }[]
  }
}

function toStat(r: StatRow): RunStat {
  return {
    runId: r.run_id,
    jobId: r.job_id,
    jobName: r.job_name,
    status: r.status,
    start: r.start,
    end: r.end,
    durationMs: r.end - r.start,
    ...(r.bytes_read === null ? {} : { bytesRead: r.bytes_read }),
    ...(r.bytes_stored === null ? {} : { bytesStored: r.bytes_stored }),
    ...(r.size === null ? {} : { size: r.size }),
  }
}
