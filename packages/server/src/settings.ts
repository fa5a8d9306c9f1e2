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

  constructor(
    readonly db: Db,
    readonly log: ServerLog,
  ) {
    const syslog = this.#get('syslog')
    if (syslog !== undefined) this.#applySyslog(syslog)
  }

  view(): SettingsView {
    const syslog = this.#get('syslog')
    const restoreTag = this.#get('restoreTag')
    return {
      ...(syslog === undefined ? {} : { syslog }),
      ...(restoreTag === undefined ? {} : { restoreTag }),
    }
  }

  restoreTag(): string {
    return this.#get('restoreTag') ?? RESTORED_TAG
  }

  /** null: back to the default. */
  setRestoreTag(tag: string | null): void {
    if (tag === null) this.db.prepare("DELETE FROM settings WHERE key = 'restoreTag'").run()
    else this.#set('restoreTag', tag)
  }

  setSyslog(url: string | null): void {
    if (url !== null) parseSyslogUrl(url) // refuse a bad URL before anything changes
    if (url === null) this.db.prepare("DELETE FROM settings WHERE key = 'syslog'").run()
    else this.#set('syslog', url)
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

  #set(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value)
  }

  #get(key: string): string | undefined {
    return (
      this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined
    )?.value
  }
}
