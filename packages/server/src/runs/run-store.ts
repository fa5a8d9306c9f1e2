// The index of runs (backups and restores) in the database, for lists and filters without reading every
// log. The task trees themselves live in the engine's run logs (<data>/engine/runs/<runId>.jsonl). Each
// run also keeps what it is about by name, as the names were when it ran (pools, repositories, VMs), and
// the restore points it wrote.
import type { Db } from '../db/database.js'
import type { SqlValue } from '../db/db-handle.js'

export type RunStatus = 'pending' | 'success' | 'failure' | 'interrupted' | 'skipped' | 'warning'

export interface RunVm {
  readonly uuid: string
  readonly name: string
  readonly status: RunStatus
}

export interface RunPointLink {
  readonly repositoryId: string
  readonly repository: string
  readonly vmUuid: string
  readonly vm: string
  readonly pointId: string
}

/** Stored as JSON beside the row; `names` maps the ids a run's tree holds to names. */
export interface RunDetails {
  readonly names?: { readonly pools: Record<string, string>; readonly repositories: Record<string, string> }
  readonly vms?: readonly RunVm[]
  readonly points?: readonly RunPointLink[]
}

export interface RunRow {
  readonly runId: string
  readonly jobId: string
  readonly jobName: string
  readonly kind: 'backup' | 'restore' | 'replication' | 'maintenance' | 'mirror' | 'metadata' | 'xo-import'
  readonly scheduleId?: string
  readonly status: RunStatus
  readonly start: number
  readonly end?: number
  readonly warnings: number
  readonly error?: { code: string; message: string }
  readonly pools?: readonly string[]
  readonly repositories?: readonly string[]
  readonly vms?: readonly RunVm[]
  readonly points?: readonly RunPointLink[]
}

interface Row {
  run_id: string
  job_id: string
  job_name: string
  kind: 'backup' | 'restore' | 'replication' | 'maintenance' | 'mirror' | 'metadata' | 'xo-import'
  schedule_id: string | null
  status: RunStatus
  start: number
  end: number | null
  warnings: number
  error: string | null
  details: string | null
}

export interface RunFilter {
  readonly jobId?: string
  readonly status?: RunStatus
  /** Runs started at or after this time (ms since the epoch). */
  readonly since?: number
  readonly limit?: number
  /** The next page: runs after this one in the order of the list (newest first). */
  readonly before?: { readonly start: number; readonly runId: string }
}

export class RunStore {
  constructor(readonly db: Db) {}

  async insert(
    run: Omit<RunRow, 'pools' | 'repositories' | 'vms' | 'points'>,
    details: RunDetails = {},
  ): Promise<void> {
    await this.db.run(
      'INSERT INTO runs (run_id, job_id, job_name, kind, schedule_id, status, start, warnings, details) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)',
      [
        run.runId,
        run.jobId,
        run.jobName,
        run.kind,
        run.scheduleId ?? null,
        run.status,
        run.start,
        JSON.stringify(details),
      ],
    )
  }

  async end(
    runId: string,
    status: RunStatus,
    end: number,
    error?: { code: string; message: string },
  ): Promise<void> {
    await this.db.run(
      'UPDATE runs SET status = ?, "end" = ?, error = ? WHERE run_id = ? AND status = \'pending\'',
      [status, end, error === undefined ? null : JSON.stringify(error), runId],
    )
  }

  /** Adds to what the run is about (its VMs and points, known at its end). */
  async addDetails(runId: string, more: RunDetails): Promise<void> {
    await this.db.transaction(async () => {
      const row = (await this.db.get('SELECT details FROM runs WHERE run_id = ?', [runId])) as
        Pick<Row, 'details'> | undefined
      if (row === undefined) return
      const details = { ...parseDetails(row.details), ...more }
      await this.db.run('UPDATE runs SET details = ? WHERE run_id = ?', [JSON.stringify(details), runId])
    })
  }

  async details(runId: string): Promise<RunDetails> {
    const row = (await this.db.get('SELECT details FROM runs WHERE run_id = ?', [runId])) as
      Pick<Row, 'details'> | undefined
    return parseDetails(row?.details ?? null)
  }

  async addWarning(runId: string): Promise<void> {
    await this.db.run('UPDATE runs SET warnings = warnings + 1 WHERE run_id = ?', [runId])
  }

  async get(runId: string): Promise<RunRow | undefined> {
    const row = (await this.db.get('SELECT * FROM runs WHERE run_id = ?', [runId])) as Row | undefined
    return row && toRun(row)
  }

  async list(filter: RunFilter = {}): Promise<RunRow[]> {
    const where: string[] = []
    const args: SqlValue[] = []
    const add = (clause: string, value: SqlValue): void => {
      where.push(clause)
      args.push(value)
    }
    if (filter.jobId !== undefined) add('job_id = ?', filter.jobId)
    if (filter.status !== undefined) add('status = ?', filter.status)
    if (filter.since !== undefined) add('start >= ?', filter.since)
    if (filter.before !== undefined) {
      // (start, run_id) below the cursor's, as the index orders them: each page is one index range.
      where.push('(start < ? OR (start = ? AND run_id < ?))')
      args.push(filter.before.start, filter.before.start, filter.before.runId)
    }
    const sql = `SELECT * FROM runs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start DESC, run_id DESC LIMIT ?`
    return ((await this.db.all(sql, [...args, filter.limit ?? 100])) as Row[]).map(toRun)
  }

  pending(): Promise<RunRow[]> {
    return this.list({ status: 'pending', limit: 10_000 })
  }
}

function parseDetails(text: string | null): RunDetails {
  if (text === null) return {}
  try {
    return JSON.parse(text) as RunDetails
  } catch {
    return {} // a row of a version that wrote none
  }
}

function toRun(r: Row): RunRow {
  const details = parseDetails(r.details)
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
    ...(details.names === undefined
      ? {}
      : {
          pools: Object.values(details.names.pools),
          repositories: Object.values(details.names.repositories),
        }),
    ...(details.vms === undefined ? {} : { vms: details.vms }),
    ...(details.points === undefined ? {} : { points: details.points }),
  }
}
