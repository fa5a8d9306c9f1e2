// One report through every channel that is on: the e-mail (when an SMTP server is set and enabled)
// and each enabled webhook, at once and independently: one channel failing does not stop another.
// Each outcome is a line in the server's log (its error names the server or webhook and the reason).
import { errorMessage } from '@strata/core'
import type { ServerLog } from '../server-log.js'
import { sendMail, type Mail } from './mailer.js'
import type { NotificationStore } from './notification-store.js'
import { deliverWebhook, WEBHOOK_LIMITS, type WebhookEvent, type WebhookLimits } from './webhook-sender.js'
import { describeWebhook } from './webhook-store.js'

export interface Report {
  /** What the log lines call it: "the report of run R of 'Nightly'". */
  readonly what: string
  readonly mail: Mail
  readonly event: WebhookEvent
  readonly payload: Record<string, unknown>
}

export interface ChannelOptions {
  readonly webhookLimits?: WebhookLimits
}

/** Resolves once every channel is done (sent or failed); never rejects. */
export async function sendEverywhere(
  store: NotificationStore,
  report: Report,
  log: ServerLog,
  signal: AbortSignal,
  options: ChannelOptions = {},
): Promise<void> {
  const jobs: Promise<void>[] = []
  const smtp = await store.smtp()
  if (smtp?.settings.enabled === true)
    jobs.push(
      sendMail(smtp, report.mail, signal).then(
        () => log.info(`${report.what} was mailed to ${smtp.settings.to.join(', ')}`),
        (error: unknown) => log.error(`${report.what} was not mailed: ${errorMessage(error)}`),
      ),
    )
  for (const hook of (await store.webhooks.list()).filter((h) => h.enabled)) {
    const send = async () => {
      const secret = await store.webhooks.secret(hook.id)
      const limits = options.webhookLimits ?? WEBHOOK_LIMITS
      return deliverWebhook(hook, secret, report.event, report.payload, signal, limits)
    }
    jobs.push(
      send().then(
        (done) => log.info(`${report.what} was delivered to ${describeWebhook(hook)} (HTTP ${done.status})`),
        (error: unknown) => log.error(`${report.what} was not delivered: ${errorMessage(error)}`),
      ),
    )
  }
  await Promise.all(jobs)
}
