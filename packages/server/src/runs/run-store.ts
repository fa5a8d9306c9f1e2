// The index of runs (backups and restores) in the database, for lists and filters without reading every
// log. The task trees themselves live in the engine's run logs (<data>/engine/runs/<runId>.jsonl).
import type { Db } from '../db/database.js'

export type RunStatus = 'pending' | 'success' | 'failure' | 'interrupted' | 'skipped'

export interface RunRow {
  readonly runId: string
  readonly jobId: string
  readonly jobName: string
  readonly kind: 'backup' | 'restore'
  readonly scheduleId?: string
  readonly status: RunStatus
  readonly start: number
  readonly end?: number
  readonly warnings: number
  readonly error?: { code: string; message: string }
}

interface Row {
  run_id: string
  job_id: string
  job_name: string
  kind: 'backup' | 'restore'
  schedule_id: string | null
  status: RunStatus
  start: number
  end: number | null
  warnings: number
  error: string | null
}

export interface RunFilter {
  readonly jobId?: string
  readonly status?: RunStatus
  readonly limit?: number
}

export class RunStore {
  constructor(readonly db: Db) {}

  insert(run: RunRow): void {
    this.db
      .prepare(
        'INSERT INTO runs (run_id, job_id, job_name, kind, schedule_id, status, start, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, 0)',
      )
      .run(run.runId, run.jobId, run.jobName, run.kind, run.scheduleId ?? null, run.status, run.start)
  }

  end(runId: string, status: RunStatus, end: number, error?: { code: string; message: string }): void {
    this.db
      .prepare("UPDATE runs SET status = ?, end = ?, error = ? WHERE run_id = ? AND status = 'pending'")
      .run(status, end, error === undefined ? null : JSON.stringify(error), runId)
  }

  addWarning(runId: string): void {
    this.db.prepare('UPDATE runs SET warnings = warnings + 1 WHERE run_id = ?').run(runId)
  }

  get(runId: string): RunRow | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as Row | undefined
    return row && toRun(row)
  }

  list(filter: RunFilter = {}): RunRow[] {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.jobId !== undefined) {
      where.push('job_id = ?')
      args.push(filter.jobId)
    }
    if (filter.status !== undefined) {
      where.push('status = ?')
      args.push(filter.status)
    }
    const sql = `SELECT * FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start DESC, run_id DESC LIMIT ?`
    return (this.db.prepare(sql).all(...args, filter.limit ?? 100) as Row[]).map(toRun)
  }

  pending(): RunRow[] {
    return this.list({ status: 'pending', limit: 10_000 })
  }
}

function toRun(r: Row): RunRow {
  return {
    runId: r.run_id,
    jobId: r.job_id,
    jobName: r.job_name,
    kind: r.kind,
    ...(r.schedule_id === null ? {} : { scheduleId: r.schedule_id }),
    status: r.status,
    start: r.start,
    ...(r.end === null ? {} : { end: r.end }),
    warnings: r.warnings,
    ...(r.error === null ? {} : { error: JSON.parse(r.error) as { code: string; message: string } }),
  }
}
