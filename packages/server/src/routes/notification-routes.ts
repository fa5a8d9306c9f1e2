// Notification settings (admin only, reads included: webhook URLs may hold tokens): the server's report
// policy, the UI's public address, the daily summary, the SMTP server and webhooks, and a test send
// through one channel that answers with the channel's own error.
import type { FastifyInstance } from 'fastify'
import {
  IdParams,
  NotificationSettingsPatch,
  NotificationTestInput,
  WebhookInput,
  WebhookPatch,
} from '@strata/contract'
import { errorCode, errorMessage } from '@strata/core'
import { ApiError, invalid } from '../errors.js'
import type { DailySummaryTask } from '../notifications/daily-summary.js'
import { sendMail } from '../notifications/mailer.js'
import type { NotificationStore } from '../notifications/notification-store.js'
import { testReport } from '../notifications/test-report.js'
import { deliverWebhook } from '../notifications/webhook-sender.js'
import type { ServerLog } from '../server-log.js'

/** What the notification routes are given. */
export interface NotificationRouteServices {
  readonly notifications: NotificationStore
  /** Rescheduled when its time changes. */
  readonly daily: DailySummaryTask
  readonly log: ServerLog
}

const admin = { role: 'admin' as const }
const TEST_TIMEOUT_MS = 60_000

export function notificationRoutes(app: FastifyInstance, ctx: NotificationRouteServices): void {
  const { notifications: store, daily } = ctx
  const schema = (extra: Record<string, unknown> = {}) => ({ tags: ['notifications'], ...extra })

  app.get('/api/settings/notifications', { config: admin, schema: schema() }, async () => store.view())

  app.patch<{ Body: NotificationSettingsPatch }>(
    '/api/settings/notifications',
    { config: admin, schema: schema({ body: NotificationSettingsPatch }) },
    async (request) => {
      await store.update(request.body)
      await daily.reload()
      ctx.log.info(`notification settings changed by ${request.user?.username}`)
      return store.view()
    },
  )

  app.post<{ Body: WebhookInput }>(
    '/api/settings/notifications/webhooks',
    { config: admin, schema: schema({ body: WebhookInput }) },
    async (request, reply) => {
      const hook = await store.webhooks.create(request.body)
      ctx.log.info(`webhook '${hook.name}' added by ${request.user?.username}`)
      return reply.status(201).send(hook)
    },
  )

  app.patch<{ Params: { id: string }; Body: WebhookPatch }>(
    '/api/settings/notifications/webhooks/:id',
    { config: admin, schema: schema({ params: IdParams, body: WebhookPatch }) },
    async (request) => {
      const hook = await store.webhooks.update(request.params.id, request.body)
      ctx.log.info(`webhook '${hook.name}' changed by ${request.user?.username}`)
      return hook
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/settings/notifications/webhooks/:id',
    { config: admin, schema: schema({ params: IdParams }) },
    async (request, reply) => {
      const hook = await store.webhooks.get(request.params.id)
      await store.webhooks.delete(hook.id)
      ctx.log.info(`webhook '${hook.name}' deleted by ${request.user?.username}`)
      return reply.status(204).send()
    },
  )

  app.post<{ Body: NotificationTestInput }>(
    '/api/settings/notifications/test',
    { config: admin, schema: schema({ body: NotificationTestInput }) },
    async (request) => {
      const report = testReport((await store.global()).publicUrl, request.user?.username ?? 'an admin')
      const signal = AbortSignal.timeout(TEST_TIMEOUT_MS)
      try {
        if (request.body.channel === 'email') {
          const smtp = await store.smtp()
          if (smtp === undefined) throw invalid('no SMTP server is set', 'body/channel')
          await sendMail(smtp, report.mail, signal)
        } else {
          const hook = await store.webhooks.get(request.body.webhookId)
          const secret = await store.webhooks.secret(hook.id)
          await deliverWebhook(hook, secret, 'test', report.payload, signal, {
            retries: 0,
            attemptTimeoutMs: 10_000,
            baseDelayMs: 0,
            maxDelayMs: 0,
          })
        }
      } catch (error) {
        if (error instanceof ApiError) throw error
        ctx.log.error(`${report.what} failed: ${errorMessage(error)}`)
        throw new ApiError(502, errorCode(error), errorMessage(error), undefined, error)
      }
      return { ok: true }
    },
  )
}
