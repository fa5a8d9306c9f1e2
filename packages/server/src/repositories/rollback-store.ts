// What the server has seen committed in each repository (table seen_points, bounded per repository) and
// the rollback warning raised on it (table rollback_watch): docs/immutability.md, "Rollback detection".
import type { Db } from '../db/database.js'

/** Points remembered per repository: the newest ones; an older point vanishing beyond is not noticed. */
export const MAX_SEEN_POINTS = 10_000
/** Rows inserted by one statement (4 parameters each: well under SQLite's and PostgreSQL's limits). */
const INSERT_ROWS = 500

export interface SeenPoint {
  readonly pointId: string
  readonly vm: string
  readonly time: number
}

export interface RollbackWarning {
  readonly message: string
  /** Points that vanished outside the server's retention and deletes (the first ones, bounded). */
  readonly vanished: SeenPoint[]
  /** How many vanished in all, when more than `vanished` names. */
  readonly count?: number
  /** The newest point the server had recorded, when the newest listed now is older. */
  readonly newestRecorded?: SeenPoint
  readonly detected: number
}

interface WatchRow {
  newest_point: string | null
  newest_vm: string | null
  newest_time: number | null
  warning: string | null
}

export class RollbackStore {
  constructor(readonly db: Db) {}

  async seen(repositoryId: string): Promise<SeenPoint[]> {
    return (await this.db.all(
      'SELECT point_id AS "pointId", vm, time FROM seen_points WHERE repository_id = ?',
      [repositoryId],
    )) as SeenPoint[]
  }

  /** Adds points, forgets those gone, and keeps only the newest MAX_SEEN_POINTS. */
  async update(repositoryId: string, added: readonly SeenPoint[], gone: readonly string[]): Promise<void> {
    if (added.length === 0 && gone.length === 0) return // nothing to record, nothing grew to trim
    await this.db.transaction(async () => {
      // Many rows a statement: the first listing of a repository of 10,000 points adds them all.
      for (let i = 0; i < added.length; i += INSERT_ROWS) {
        const rows = added.slice(i, i + INSERT_ROWS)
        await this.db.run(
          `INSERT INTO seen_points (repository_id, point_id, vm, time) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
          rows.flatMap((p) => [repositoryId, p.pointId, p.vm, p.time]),
        )
      }
      for (const id of gone)
        await this.db.run('DELETE FROM seen_points WHERE repository_id = ? AND point_id = ?', [
          repositoryId,
          id,
        ])
      await this.db.run(
        `DELETE FROM seen_points WHERE repository_id = ? AND point_id NOT IN (
             SELECT point_id FROM seen_points WHERE repository_id = ? ORDER BY time DESC LIMIT ?)`,
        [repositoryId, repositoryId, MAX_SEEN_POINTS],
      )
    })
  }

  /** The newest point ever recorded (it stays when points vanish: a rollback shows against it). */
  async newest(repositoryId: string): Promise<SeenPoint | undefined> {
    const row = await this.#row(repositoryId)
    if (row?.newest_point == null || row.newest_time == null) return undefined
    return { pointId: row.newest_point, vm: row.newest_vm ?? '', time: row.newest_time }
  }

  async setNewest(repositoryId: string, point: SeenPoint): Promise<void> {
    await this.db.run(
      `INSERT INTO rollback_watch (repository_id, newest_point, newest_vm, newest_time) VALUES (?, ?, ?, ?)
         ON CONFLICT (repository_id) DO UPDATE SET newest_point = excluded.newest_point,
           newest_vm = excluded.newest_vm, newest_time = excluded.newest_time`,
      [repositoryId, point.pointId, point.vm, point.time],
    )
  }

  async warning(repositoryId: string): Promise<RollbackWarning | undefined> {
    const text = (await this.#row(repositoryId))?.warning
    return text == null ? undefined : (JSON.parse(text) as RollbackWarning)
  }

  /** Raises (or, with undefined, clears) the repository's warning. */
  async setWarning(repositoryId: string, warning: RollbackWarning | undefined): Promise<void> {
    await this.db.run(
      `INSERT INTO rollback_watch (repository_id, warning) VALUES (?, ?)
         ON CONFLICT (repository_id) DO UPDATE SET warning = excluded.warning`,
      [repositoryId, warning === undefined ? null : JSON.stringify(warning)],
    )
  }

  async forget(repositoryId: string): Promise<void> {
    await this.db.run('DELETE FROM seen_points WHERE repository_id = ?', [repositoryId])
    await this.db.run('DELETE FROM rollback_watch WHERE repository_id = ?', [repositoryId])
  }

  async #row(repositoryId: string): Promise<WatchRow | undefined> {
    return (await this.db.get('SELECT * FROM rollback_watch WHERE repository_id = ?', [repositoryId])) as
      WatchRow | undefined
  }
}
