// Server settings kept in the database (syslog forwarding), applied as they change.
import type { Db } from './db/database.js'
import type { ServerLog } from './server-log.js'
import { SyslogSink, parseSyslogUrl } from './syslog.js'

export interface SettingsView {
  readonly syslog?: string
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
    return syslog === undefined ? {} : { syslog }
  }

  setSyslog(url: string | null): void {
    if (url !== null) parseSyslogUrl(url) // refuse a bad URL before anything changes
    if (url === null) this.db.prepare("DELETE FROM settings WHERE key = 'syslog'").run()
    else
      this.db
        .prepare(
          "INSERT INTO settings (key, value) VALUES ('syslog', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .run(url)
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

  #get(key: string): string | undefined {
    return (
      this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined
    )?.value
  }
}
