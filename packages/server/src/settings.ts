// Server settings kept in the database (syslog forwarding, the tag of restored VMs), applied as they change.
import { RESTORED_TAG } from '@strata/core/engine'
import type { Db } from './db/database.js'
import type { ServerLog } from './server-log.js'
import { SyslogSink, parseSyslogUrl } from './syslog.js'

export interface SettingsView {
  readonly syslog?: string
  /**
   * The tag restores give the VMs they create ('' = none), which smart selections leave out; absent
   * while it is the default, 'restored from backup'.
   */
  readonly restoreTag?: string
}

export class Settings {
  #sink: SyslogSink | undefined
  #remove: (() => void) | undefined

  private constructor(
    readonly db: Db,
    readonly log: ServerLog,
  ) {}

  /** The settings, with syslog forwarding applied as stored. */
  static async open(db: Db, log: ServerLog): Promise<Settings> {
    const settings = new Settings(db, log)
    const syslog = await settings.#get('syslog')
    if (syslog !== undefined) settings.#applySyslog(syslog)
    return settings
  }

  async view(): Promise<SettingsView> {
    const syslog = await this.#get('syslog')
    const restoreTag = await this.#get('restoreTag')
    return {
      ...(syslog === undefined ? {} : { syslog }),
      ...(restoreTag === undefined ? {} : { restoreTag }),
    }
  }

  async restoreTag(): Promise<string> {
    return (await this.#get('restoreTag')) ?? RESTORED_TAG
  }

  /** null: back to the default. */
  async setRestoreTag(tag: string | null): Promise<void> {
    if (tag === null) await this.db.run("DELETE FROM settings WHERE key = 'restoreTag'")
    else await this.#set('restoreTag', tag)
  }

  async setSyslog(url: string | null): Promise<void> {
    if (url !== null) parseSyslogUrl(url) // refuse a bad URL before anything changes
    if (url === null) await this.db.run("DELETE FROM settings WHERE key = 'syslog'")
    else await this.#set('syslog', url)
    this.#applySyslog(url ?? undefined)
  }

  close(): void {
    this.#applySyslog(undefined)
  }

  #applySyslog(url: string | undefined): void {
    this.#remove?.()
    this.#sink?.close()
    this.#sink = url === undefined ? undefined : new SyslogSink(parseSyslogUrl(url))
    this.#remove = this.#sink === undefined ? undefined : this.log.addSink(this.#sink)
  }

  async #set(key: string, value: string): Promise<void> {
    await this.db.run(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      [key, value],
    )
  }

  async #get(key: string): Promise<string | undefined> {
    return (
      (await this.db.get('SELECT value FROM settings WHERE key = ?', [key])) as { value: string } | undefined
    )?.value
  }
}
