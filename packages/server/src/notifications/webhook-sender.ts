// Delivers one JSON report to a webhook: POSTed with `X-Strata-Signature: sha256=<hex>`, the
// HMAC-SHA256 of the exact body bytes under the webhook's secret (docs/monitoring.md tells receivers how to
// check it), and an `X-Strata-Delivery` id that stays the same across retries. A network error, a
// timeout, a 429 or a 5xx is tried again with exponential backoff, a bounded number of times; another
// answer (a 4xx, a redirect: the body is never sent elsewhere) fails at once.
import { createHmac, randomUUID } from 'node:crypto'
import { anySignal, errorMessage, retry } from '@strata/core'
import { NotificationError } from './mailer.js'
import { describeWebhook } from './webhook-store.js'

export interface WebhookLimits {
  /** Tries after the first one. */
  readonly retries: number
  readonly attemptTimeoutMs: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

export const WEBHOOK_LIMITS: WebhookLimits = {
  retries: 3,
  attemptTimeoutMs: 10_000,
  baseDelayMs: 2_000,
  maxDelayMs: 15_000,
}

export type WebhookEvent = 'run' | 'daily-summary' | 'test'

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`
}

export interface Delivered {
  readonly status: number
  readonly attempts: number
}

export async function deliverWebhook(
  hook: { readonly name: string; readonly url: string },
  secret: string,
  event: WebhookEvent,
  payload: Record<string, unknown>,
  signal: AbortSignal,
  limits: WebhookLimits = WEBHOOK_LIMITS,
): Promise<Delivered> {
  const body = JSON.stringify({ event, sentAt: Date.now(), ...payload })
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Strata',
    'x-strata-event': event,
    'x-strata-delivery': randomUUID(),
    'x-strata-signature': signature(secret, body),
  }
  let attempts = 0
  const status = await retry(
    async () => {
      attempts++
      return post(hook, body, headers, signal, limits.attemptTimeoutMs)
    },
    {
      retries: limits.retries,
      baseDelayMs: limits.baseDelayMs,
      maxDelayMs: limits.maxDelayMs,
      signal,
    },
  ).catch((error: unknown) => {
    throw new NotificationError(
      'WEBHOOK_FAILED',
      `${describeWebhook(hook)} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${errorMessage(error)}`,
      error,
    )
  })
  return { status, attempts }
}

async function post(
  hook: { readonly name: string; readonly url: string },
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<number> {
  let response: Response
  try {
    response = await fetch(hook.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: anySignal(signal, AbortSignal.timeout(timeoutMs)),
    })
  } catch (error) {
    const why = signal.aborted ? 'aborted' : errorMessage((error as { cause?: unknown }).cause ?? error)
    throw new NotificationError('WEBHOOK_FAILED', why, error, !signal.aborted)
  }
  await response.body?.cancel().catch(() => undefined)
  if (response.ok) return response.status
  const retryable = response.status === 429 || response.status >= 500
  throw new NotificationError('WEBHOOK_FAILED', `answered HTTP ${response.status}`, undefined, retryable)
}
