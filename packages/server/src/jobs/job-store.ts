// Jobs in the database (the API's StoredJob as JSON: every default written out). Jobs saved before the
// vocabulary of the contract are read with their old spellings renamed.
import { completeJob, upgradeJobInput, type JobInput } from '@strata/contract'
import type { Db } from '../db/database.js'
import { notFound } from '../errors.js'
import { newId } from '../ids.js'
import type { ApiJob } from './job-model.js'

export class JobStore {
  constructor(readonly db: Db) {}

  async list(): Promise<ApiJob[]> {
    return ((await this.db.all('SELECT body FROM jobs ORDER BY name')) as { body: string }[]).map((r) =>
      fromBody(r.body),
    )
  }

  async get(id: string): Promise<ApiJob> {
    const row = (await this.db.get('SELECT body FROM jobs WHERE id = ?', [id])) as
      { body: string } | undefined
    if (row === undefined) throw notFound(`job '${id}'`)
    return fromBody(row.body)
  }

  /** A checked input made complete: defaults written out, ids given. */
  complete(input: JobInput, id = newId('job')): ApiJob {
    return completeJob(input, { id, newScheduleId: () => newId('sched') })
  }

  async save(job: ApiJob): Promise<ApiJob> {
    await this.db.run(
      'INSERT INTO jobs (id, name, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body',
      [job.id, job.name, JSON.stringify(job)],
    )
    return job
  }

  async delete(id: string): Promise<void> {
    await this.get(id)
    await this.db.run('DELETE FROM jobs WHERE id = ?', [id])
    await this.db.run('DELETE FROM schedule_state WHERE job_id = ?', [id])
  }
}

/** A stored body, whatever release wrote it (it was checked when saved; a run checks it again). */
function fromBody(body: string): ApiJob {
  const { id, ...rest } = JSON.parse(body) as { id: string }
  return completeJob(upgradeJobInput(rest).value as JobInput, { id, newScheduleId: () => newId('sched') })
}
