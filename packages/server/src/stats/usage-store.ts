// Each repository's stored and logical bytes over time (table usage_samples), with a bounded retention:
// every sample of the last week, then the last one of each day, for a year; older ones are dropped.
// A repository sampled every hour and after every run keeps at most a few thousand rows.
import type { UsageSample } from '@strata/contract'
import type { Db } from '../db/database.js'

const DAY_MS = 86_400_000
export const USAGE_RETENTION = { everySampleMs: 7 * DAY_MS, dailyMs: 366 * DAY_MS } as const
/** The most samples one series returns (a chart has no use for more). */
export const MAX_SERIES_SAMPLES = 400

interface Row {
  repository_id: string
  time: number
  stored_bytes: number
  logical_bytes: number
  chunks: number
  points: number
}

export class UsageStore {
  constructor(readonly db: Db) {}

  async add(repositoryId: string, sample: UsageSample): Promise<void> {
    await this.db.run(
      'INSERT INTO usage_samples (repository_id, time, stored_bytes, logical_bytes, chunks, points) VALUES (?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (repository_id, time) DO UPDATE SET stored_bytes = excluded.stored_bytes, logical_bytes = excluded.logical_bytes, chunks = excluded.chunks, points = excluded.points',
      [repositoryId, sample.time, sample.storedBytes, sample.logicalBytes, sample.chunks, sample.points],
    )
    await this.prune(sample.time)
  }

  /** Samples since `since`, oldest first; thinned to the last of each time bucket when there are many. */
  async list(repositoryId: string, since: number): Promise<UsageSample[]> {
    const rows = (await this.db.all(
      'SELECT * FROM usage_samples WHERE repository_id = ? AND time >= ? ORDER BY time',
      [repositoryId, since],
    )) as Row[]
    if (rows.length <= MAX_SERIES_SAMPLES) return rows.map(toSample)
    const first = rows[0]!.time
    const bucket = Math.ceil((rows.at(-1)!.time - first + 1) / MAX_SERIES_SAMPLES)
    const last = new Map<number, Row>()
    for (const row of rows) last.set(Math.floor((row.time - first) / bucket), row)
    return [...last.values()].map(toSample)
  }

  /** The newest sample of each repository. */
  async latest(): Promise<Map<string, UsageSample>> {
    const rows = (await this.db.all(
      'SELECT u.* FROM usage_samples u JOIN (SELECT repository_id, MAX(time) AS time FROM usage_samples GROUP BY repository_id) m ON m.repository_id = u.repository_id AND m.time = u.time',
    )) as Row[]
    return new Map(rows.map((r) => [r.repository_id, toSample(r)]))
  }

  async forget(repositoryId: string): Promise<void> {
    await this.db.run('DELETE FROM usage_samples WHERE repository_id = ?', [repositoryId])
  }

  async prune(now: number): Promise<void> {
    await this.db.run('DELETE FROM usage_samples WHERE time < ?', [now - USAGE_RETENTION.dailyMs])
    // Older than a week: the last sample of each (UTC) day stays.
    await this.db.run(
      `DELETE FROM usage_samples WHERE time < ? AND EXISTS (
           SELECT 1 FROM usage_samples v
           WHERE v.repository_id = usage_samples.repository_id
             AND v.time / ${DAY_MS} = usage_samples.time / ${DAY_MS} AND v.time > usage_samples.time)`,
      [now - USAGE_RETENTION.everySampleMs],
    )
  }
}

function toSample(r: Row): UsageSample {
  return {
    time: r.time,
    storedBytes: r.stored_bytes,
    logicalBytes: r.logical_bytes,
    chunks: r.chunks,
    points: r.points,
  }
}
