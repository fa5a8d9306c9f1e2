// The notification settings in the database: the server's report policy, the public address of the UI
// (links in reports), the daily summary (the `settings` table, key 'notifications'), and the SMTP server
// (table `smtp`: its settings as JSON, the password sealed with the server key and bound to its row,
// never returned nor logged). Webhooks are their own store.
import { X509Certificate } from 'node:crypto'
import {
  DAILY_SUMMARY_DEFAULT,
  REPORT_POLICY_DEFAULT,
  isTimeZone,
  type DailySummary,
  type NotificationSettings,
  type NotificationSettingsPatch,
  type ReportPolicy,
  type SmtpInput,
  type SmtpSettings,
} from '@strata/contract'
import type { Db } from '../db/database.js'
import { invalid } from '../errors.js'
import type { SecretBox } from '../secret-box.js'
import { smtpPasswordField } from '../secret-fields.js'
import { WebhookStore } from './webhook-store.js'

export interface GlobalNotificationSettings {
  readonly report: ReportPolicy
  readonly publicUrl?: string
  readonly dailySummary: DailySummary
}

export type StoredSmtp = Omit<SmtpSettings, 'passwordSet'>

/** What the mailer needs: the settings and the password, opened. */
export interface SmtpAccount {
  readonly settings: StoredSmtp
  readonly password?: string
}

const KEY = 'notifications'

export class NotificationStore {
  readonly webhooks: WebhookStore

  constructor(
    readonly db: Db,
    readonly box: SecretBox,
  ) {
    this.webhooks = new WebhookStore(db, box)
  }

  async view(): Promise<NotificationSettings> {
    const smtp = await this.#smtpRow()
    return {
      ...(await this.global()),
      ...(smtp === undefined
        ? {}
        : { smtp: { ...(JSON.parse(smtp.body) as StoredSmtp), passwordSet: smtp.password_sealed !== null } }),
      webhooks: await this.webhooks.list(),
    }
  }

  async global(): Promise<GlobalNotificationSettings> {
    const row = (await this.db.get('SELECT value FROM settings WHERE key = ?', [KEY])) as
      { value: string } | undefined
    const stored = row === undefined ? {} : (JSON.parse(row.value) as Partial<GlobalNotificationSettings>)
    return {
      report: stored.report ?? REPORT_POLICY_DEFAULT,
      ...(stored.publicUrl === undefined ? {} : { publicUrl: stored.publicUrl }),
      dailySummary: { ...DAILY_SUMMARY_DEFAULT, ...stored.dailySummary },
    }
  }

  async smtp(): Promise<SmtpAccount | undefined> {
    const row = await this.#smtpRow()
    if (row === undefined) return undefined
    const settings = JSON.parse(row.body) as StoredSmtp
    return row.password_sealed === null
      ? { settings }
      : { settings, password: this.box.open(row.password_sealed, smtpPasswordField) }
  }

  /** Checks the whole patch, then applies it at once (a refused patch changes nothing). */
  async update(patch: NotificationSettingsPatch): Promise<void> {
    const global = await this.#nextGlobal(patch)
    const smtp = patch.smtp === undefined ? undefined : await this.#nextSmtp(patch.smtp)
    await this.db.transaction(async () => {
      await this.db.run(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
        [KEY, JSON.stringify(global)],
      )
      if (smtp === null) await this.db.run('DELETE FROM smtp')
      else if (smtp !== undefined)
        await this.db.run(
          "INSERT INTO smtp (id, body, password_sealed) VALUES ('smtp', ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body, password_sealed = excluded.password_sealed",
          [JSON.stringify(smtp.settings), smtp.passwordSealed],
        )
    })
  }

  async #nextGlobal(patch: NotificationSettingsPatch): Promise<GlobalNotificationSettings> {
    const now = await this.global()
    const daily = { ...now.dailySummary, ...patch.dailySummary }
    if (!isTimeZone(daily.timezone))
      throw invalid(`'${daily.timezone}' is not a time zone (an IANA name)`, 'body/dailySummary/timezone')
    const publicUrl = patch.publicUrl === undefined ? now.publicUrl : (patch.publicUrl ?? undefined)
    return {
      report: patch.report ?? now.report,
      ...(publicUrl === undefined ? {} : { publicUrl: publicUrl.replace(/\/+$/, '') }),
      dailySummary: daily,
    }
  }

  async #nextSmtp(
    input: SmtpInput | null,
  ): Promise<{ settings: StoredSmtp; passwordSealed: string | null } | null> {
    if (input === null) return null
    const before = await this.#smtpRow()
    const passwordSealed =
      input.password === undefined
        ? (before?.password_sealed ?? null)
        : this.box.sealOptional(input.password, smtpPasswordField)
    if (input.security === 'none' && passwordSealed !== null)
      throw invalid(
        "an SMTP password is sent only over an encrypted connection: choose 'starttls' or 'tls', or remove the password",
        'body/smtp/security',
      )
    if (passwordSealed !== null && input.username === undefined)
      throw invalid('an SMTP password needs a username', 'body/smtp/username')
    const beforeCa = before === undefined ? undefined : (JSON.parse(before.body) as StoredSmtp).ca
    const ca = input.ca === undefined ? beforeCa : (input.ca ?? undefined)
    if (ca !== undefined) checkCertificates(ca)
    const { password: _password, ca: _ca, ...rest } = input
    return {
      settings: { ...rest, enabled: input.enabled ?? true, ...(ca === undefined ? {} : { ca }) },
      passwordSealed,
    }
  }

  async #smtpRow(): Promise<{ body: string; password_sealed: string | null } | undefined> {
    return (await this.db.get("SELECT body, password_sealed FROM smtp WHERE id = 'smtp'")) as
      { body: string; password_sealed: string | null } | undefined
  }
}

/** Every certificate of a PEM bundle must parse: a typo is refused now, not at the first report. */
function checkCertificates(pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw invalid('no PEM certificate in ca', 'body/smtp/ca')
  for (const block of blocks) {
    try {
      new X509Certificate(block)
    } catch (error) {
      throw invalid(`a certificate of ca does not parse (${(error as Error).message})`, 'body/smtp/ca')
    }
  }
}
