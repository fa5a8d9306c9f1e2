// Reports and notifications (docs/monitoring.md, "Reports and notifications"): when a run is reported (per job, and the
// server's default), the SMTP server that mails reports, the webhooks that receive them signed, the
// daily summary, and the public address links in reports point to. Secrets (the SMTP password, each
// webhook's signing secret) are write-only: requests may carry them, answers never do.
import { Type, type Static } from '@sinclair/typebox'
import { List, Strict, Text } from './schema-helpers.js'

/** When a run is reported: after each run, only when it failed (or was interrupted), or never. */
export const ReportPolicy = Type.Union(
  [Type.Literal('always'), Type.Literal('failure'), Type.Literal('never')],
  {
    description: "'always': after each run; 'failure': only runs that failed or were interrupted; 'never'.",
  },
)
export type ReportPolicy = Static<typeof ReportPolicy>

/** A job's own policy, or 'default': the server's (Settings → Notifications). */
export const JobReport = Type.Union([Type.Literal('default'), ...ReportPolicy.anyOf], {
  description: "When this job's runs are reported; 'default' follows the server's setting.",
})
export type JobReport = Static<typeof JobReport>
export const JOB_REPORT_DEFAULT: JobReport = 'default'
export const REPORT_POLICY_DEFAULT: ReportPolicy = 'failure'

const EMAIL_PATTERN = '^[^\\s@<>(),;:"\\\\]+@[^\\s@<>(),;:"\\\\]+$'
export const EmailAddress = Text(254, { pattern: EMAIL_PATTERN, errorMessage: 'an e-mail address' })
const HTTP_URL_PATTERN = '^https?://[^\\s]+$'

export const SmtpSecurity = Type.Union(
  [Type.Literal('starttls'), Type.Literal('tls'), Type.Literal('none')],
  {
    description:
      "'starttls': plain connection upgraded with STARTTLS, refused when the server does not offer it " +
      "(port 587); 'tls': TLS from the first byte (port 465); 'none': no encryption (no password then).",
  },
)
export type SmtpSecurity = Static<typeof SmtpSecurity>

const PemText = Text(16_384, {
  pattern: '-----BEGIN CERTIFICATE-----',
  errorMessage: 'a PEM certificate (-----BEGIN CERTIFICATE-----)',
})

const smtpProperties = {
  host: Text(253),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  security: SmtpSecurity,
  username: Type.Optional(Text(200)),
  from: EmailAddress,
  to: List(EmailAddress, 20, { minItems: 1, description: 'Who gets the reports.' }),
  enabled: Type.Boolean({ description: 'Reports are mailed while true.' }),
}

/** The SMTP server as stored: the password is never returned, `passwordSet` says whether there is one. */
export const SmtpSettings = Type.Object({
  ...smtpProperties,
  username: Type.Optional(Type.String()),
  passwordSet: Type.Boolean(),
  ca: Type.Optional(
    Type.String({ description: 'PEM certificates trusted for this server (besides the system CAs).' }),
  ),
})
export type SmtpSettings = Static<typeof SmtpSettings>

export const SmtpInput = Strict({
  ...smtpProperties,
  enabled: Type.Optional(Type.Boolean({ description: 'Default true.' })),
  password: Type.Optional(
    Type.Union([Text(1000), Type.Null()], {
      description: 'Write-only: stored sealed, never returned. Absent: kept; null: removed.',
    }),
  ),
  ca: Type.Optional(Type.Union([PemText, Type.Null()], { description: 'null: none.' })),
})
export type SmtpInput = Static<typeof SmtpInput>

export const DailySummary = Type.Object({
  enabled: Type.Boolean(),
  time: Type.String({ description: "'HH:MM', 24-hour clock." }),
  timezone: Type.String({ description: 'An IANA time zone.' }),
})
export type DailySummary = Static<typeof DailySummary>
export const DAILY_SUMMARY_DEFAULT: DailySummary = { enabled: false, time: '07:00', timezone: 'UTC' }

export const Webhook = Type.Object({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  enabled: Type.Boolean(),
  created: Type.Number(),
})
export type Webhook = Static<typeof Webhook>

const webhookProperties = {
  name: Text(100),
  url: Text(2000, { pattern: HTTP_URL_PATTERN, errorMessage: 'an http:// or https:// URL' }),
  secret: Text(200, {
    minLength: 16,
    description: 'Write-only: the HMAC-SHA256 key of the X-Strata-Signature header (16 characters or more).',
  }),
  enabled: Type.Optional(Type.Boolean({ default: true })),
}
export const WebhookInput = Strict(webhookProperties)
export type WebhookInput = Static<typeof WebhookInput>
export const WebhookPatch = Type.Partial(Strict(webhookProperties))
export type WebhookPatch = Static<typeof WebhookPatch>
export const MAX_WEBHOOKS = 10

/** GET /api/settings/notifications (admin). */
export const NotificationSettings = Type.Object({
  report: ReportPolicy,
  publicUrl: Type.Optional(
    Type.String({ description: "The UI's address that links in reports start with." }),
  ),
  dailySummary: DailySummary,
  smtp: Type.Optional(SmtpSettings),
  webhooks: Type.Array(Webhook),
})
export type NotificationSettings = Static<typeof NotificationSettings>

export const NotificationSettingsPatch = Strict({
  report: Type.Optional(ReportPolicy),
  publicUrl: Type.Optional(
    Type.Union([
      Text(500, { pattern: HTTP_URL_PATTERN, errorMessage: 'an http:// or https:// URL' }),
      Type.Null(),
    ]),
  ),
  dailySummary: Type.Optional(
    Strict({
      enabled: Type.Optional(Type.Boolean()),
      time: Type.Optional(
        Type.String({
          pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$',
          errorMessage: "a time 'HH:MM' (00:00 to 23:59)",
        }),
      ),
      timezone: Type.Optional(Text(100)),
    }),
  ),
  smtp: Type.Optional(Type.Union([SmtpInput, Type.Null()], { description: 'null: no e-mail.' })),
})
export type NotificationSettingsPatch = Static<typeof NotificationSettingsPatch>

/** POST /api/settings/notifications/test: sends a test report now through one channel. */
export const NotificationTestInput = Type.Union([
  Strict({ channel: Type.Literal('email') }),
  Strict({ channel: Type.Literal('webhook'), webhookId: Text(100) }),
])
export type NotificationTestInput = Static<typeof NotificationTestInput>
