// Jobs in the database (the API shape as JSON) and the checks that tie them to pools and repositories.
import { Cron } from 'croner'
import type { Db } from '../db/database.js'
import { invalid, notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { ApiJob, ApiSchedule } from './job-model.js'

export type JobInput = Omit<ApiJob, 'id' | 'schedules' | 'enabled' | 'mode' | 'settings'> & {
  enabled?: boolean
  mode?: 'delta' | 'full'
  settings?: Record<string, unknown>
  schedules?: (Partial<ApiSchedule> & { cron: string })[]
}

export class JobStore {
  constructor(readonly db: Db) {}

  list(): ApiJob[] {
    return (this.db.prepare('SELECT body FROM jobs ORDER BY name').all() as { body: string }[]).map(
      (r) => JSON.parse(r.body) as ApiJob,
    )
  }

  get(id: string): ApiJob {
    const row = this.db.prepare('SELECT body FROM jobs WHERE id = ?').get(id) as { body: string } | undefined
    if (row === undefined) throw notFound(`job '${id}'`)
    return JSON.parse(row.body) as ApiJob
  }

  /** Fills defaults and ids; the result is checked by the caller (engine validation) before save. */
  normalize(input: JobInput, id = newId('job')): ApiJob {
    const schedules = (input.schedules ?? []).map(normalizeSchedule)
    const ids = new Set<string>()
    for (const [i, s] of schedules.entries()) {
      if (ids.has(s.id)) throw invalid(`schedule id '${s.id}' appears twice`, `body/schedules/${i}/id`)
      ids.add(s.id)
    }
    return {
      id,
      name: input.name,
      enabled: input.enabled ?? true,
      mode: input.mode ?? 'delta',
      vms: input.vms,
      repositories: input.repositories,
      settings: input.settings ?? {},
      schedules,
    }
  }

  save(job: ApiJob): ApiJob {
    this.db
      .prepare(
        'INSERT INTO jobs (id, name, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body',
      )
      .run(job.id, job.name, JSON.stringify(job))
    return job
  }

  delete(id: string): void {
    this.get(id)
    this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id)
    this.db.prepare('DELETE FROM schedule_state WHERE job_id = ?').run(id)
  }
}

function normalizeSchedule(s: Partial<ApiSchedule> & { cron: string }, i: number): ApiSchedule {
  const timezone = s.timezone ?? 'UTC'
  try {
    // Croner validates both the expression and the zone, the same way the scheduler will use them.
    // (the zone is only checked when a date is computed, hence nextRun).
    const cron = new Cron(s.cron, { timezone, paused: true })
    cron.nextRun()
    cron.stop()
  } catch (error) {
    throw invalid(`schedule ${i}: ${(error as Error).message}`, `body/schedules/${i}`)
  }
  return {
    id: s.id ?? newId('sched'),
    ...(s.name === undefined ? {} : { name: s.name }),
    cron: s.cron,
    timezone,
    enabled: s.enabled ?? true,
    ...(s.retention === undefined ? {} : { retention: s.retention }),
    forceFull: s.forceFull ?? false,
  }
}
