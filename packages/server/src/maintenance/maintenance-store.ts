// Each repository's maintenance schedule and when each task last started, in the settings table (one
// JSON value per repository): a repository without a stored schedule has the defaults.
import { DEFAULT_MAINTENANCE, type MaintenanceSchedule, type MaintenanceTask } from '@strata/contract'
import type { Db } from '../db/database.js'

const scheduleKey = (repositoryId: string): string => `maintenance:${repositoryId}`
const lastKey = (repositoryId: string, task: MaintenanceTask): string =>
  `maintenance-last:${repositoryId}:${task}`

export class MaintenanceStore {
  constructor(readonly db: Db) {}

  schedule(repositoryId: string): MaintenanceSchedule {
    const text = this.#get(scheduleKey(repositoryId))
    return text === undefined ? DEFAULT_MAINTENANCE : (JSON.parse(text) as MaintenanceSchedule)
  }

  setSchedule(repositoryId: string, schedule: MaintenanceSchedule): void {
    this.#set(scheduleKey(repositoryId), JSON.stringify(schedule))
  }

  /** When the task last started (ms since the epoch); a repository first seen counts from now. */
  lastStart(repositoryId: string, task: MaintenanceTask, now: number): number {
    const text = this.#get(lastKey(repositoryId, task))
    if (text !== undefined) return Number(text)
    this.setLastStart(repositoryId, task, now)
    return now
  }

  setLastStart(repositoryId: string, task: MaintenanceTask, time: number): void {
    this.#set(lastKey(repositoryId, task), String(time))
  }

  forget(repositoryId: string): void {
    this.db
      .prepare('DELETE FROM settings WHERE key = ? OR key LIKE ?')
      .run(scheduleKey(repositoryId), `maintenance-last:${repositoryId}:%`)
  }

  #get(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      { value: string } | undefined
    return row?.value
  }

  #set(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value)
  }
}
