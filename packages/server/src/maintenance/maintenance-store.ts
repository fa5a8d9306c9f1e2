// Each repository's maintenance schedule and when each task last started, in the settings table (one
// JSON value per repository): a repository without a stored schedule has the defaults.
import { DEFAULT_MAINTENANCE, type MaintenanceSchedule, type MaintenanceTask } from '@strata/contract'
import type { Db } from '../db/database.js'

const scheduleKey = (repositoryId: string): string => `maintenance:${repositoryId}`
const lastKey = (repositoryId: string, task: MaintenanceTask): string =>
  `maintenance-last:${repositoryId}:${task}`

export class MaintenanceStore {
  constructor(readonly db: Db) {}

  async schedule(repositoryId: string): Promise<MaintenanceSchedule> {
    const text = await this.#get(scheduleKey(repositoryId))
    return text === undefined ? DEFAULT_MAINTENANCE : (JSON.parse(text) as MaintenanceSchedule)
  }

  async setSchedule(repositoryId: string, schedule: MaintenanceSchedule): Promise<void> {
    await this.#set(scheduleKey(repositoryId), JSON.stringify(schedule))
  }

  /** When the task last started (ms since the epoch); a repository first seen counts from now. */
  async lastStart(repositoryId: string, task: MaintenanceTask, now: number): Promise<number> {
    const text = await this.#get(lastKey(repositoryId, task))
    if (text !== undefined) return Number(text)
    await this.setLastStart(repositoryId, task, now)
    return now
  }

  async setLastStart(repositoryId: string, task: MaintenanceTask, time: number): Promise<void> {
    await this.#set(lastKey(repositoryId, task), String(time))
  }

  async forget(repositoryId: string): Promise<void> {
    await this.db.run('DELETE FROM settings WHERE key = ? OR key LIKE ?', [
      scheduleKey(repositoryId),
      `maintenance-last:${repositoryId}:%`,
    ])
  }

  async #get(key: string): Promise<string | undefined> {
    const row = (await this.db.get('SELECT value FROM settings WHERE key = ?', [key])) as
      { value: string } | undefined
    return row?.value
  }

  async #set(key: string, value: string): Promise<void> {
    await this.db.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      [key, value],
    )
  }
}
