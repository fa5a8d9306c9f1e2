// What the server has seen committed in each repository (table seen_points, bounded per repository) and
// the rollback warning raised on it (table rollback_watch): docs/immutability.md, "Rollback detection".
import type { Db } from '../db/database.js'

/** Points remembered per repository: the newest ones; an older point vanishing beyond is not noticed. */
export const MAX_SEEN_POINTS = 10_000

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

  seen(repositoryId: string): SeenPoint[] {
    return this.db
      .prepare('SELECT point_id AS pointId, vm, time FROM seen_points WHERE repository_id = ?')
      .all(repositoryId) as SeenPoint[]
  }

  /** Adds points, forgets those gone, and keeps only the newest MAX_SEEN_POINTS. */
  update(repositoryId: string, added: readonly SeenPoint[], gone: readonly string[]): void {
    const insert = this.db.prepare(
      'INSERT OR IGNORE INTO seen_points (repository_id, point_id, vm, time) VALUES (?, ?, ?, ?)',
    )
    const remove = this.db.prepare('DELETE FROM seen_points WHERE repository_id = ? AND point_id = ?')
    this.db.transaction(() => {
      for (const p of added) insert.run(repositoryId, p.pointId, p.vm, p.time)
      for (const id of gone) remove.run(repositoryId, id)
      this.db
        .prepare(
          `DELETE FROM seen_points WHERE repository_id = ? AND point_id NOT IN (
             SELECT point_id FROM seen_points WHERE repository_id = ? ORDER BY time DESC LIMIT ?)`,
        )
        .run(repositoryId, repositoryId, MAX_SEEN_POINTS)
    })()
  }

  /** The newest point ever recorded (it stays when points vanish: a rollback shows against it). */
  newest(repositoryId: string): SeenPoint | undefined {
    const row = this.#row(repositoryId)
    if (row?.newest_point == null || row.newest_time == null) return undefined
    return { pointId: row.newest_point, vm: row.newest_vm ?? '', time: row.newest_time }
  }

  setNewest(repositoryId: string, point: SeenPoint): void {
    this.db
      .prepare(
        `INSERT INTO rollback_watch (repository_id, newest_point, newest_vm, newest_time) VALUES (?, ?, ?, ?)
         ON CONFLICT (repository_id) DO UPDATE SET newest_point = excluded.newest_point,
           newest_vm = excluded.newest_vm, newest_time = excluded.newest_time`,
      )
      .run(repositoryId, point.pointId, point.vm, point.time)
  }

  warning(repositoryId: string): RollbackWarning | undefined {
    const text = this.#row(repositoryId)?.warning
    return text == null ? undefined : (JSON.parse(text) as RollbackWarning)
  }

  /** Raises (or, with undefined, clears) the repository's warning. */
  setWarning(repositoryId: string, warning: RollbackWarning | undefined): void {
    this.db
      .prepare(
        `INSERT INTO rollback_watch (repository_id, warning) VALUES (?, ?)
         ON CONFLICT (repository_id) DO UPDATE SET warning = excluded.warning`,
      )
      .run(repositoryId, warning === undefined ? null : JSON.stringify(warning))
  }

  forget(repositoryId: string): void {
    this.db.prepare('DELETE FROM seen_points WHERE repository_id = ?').run(repositoryId)
    this.db.prepare('DELETE FROM rollback_watch WHERE repository_id = ?').run(repositoryId)
  }

  #row(repositoryId: string): WatchRow | undefined {
    return this.db.prepare('SELECT * FROM rollback_watch WHERE repository_id = ?').get(repositoryId) as
      WatchRow | undefined
  }
}
