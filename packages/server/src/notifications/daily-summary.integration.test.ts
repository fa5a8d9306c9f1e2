// The daily summary of real lab runs, received through a real SMTP server (STARTTLS, authentication) and
// a signed webhook: each job with its runs by state, its last success and the VM that failed with the
// reason; scheduled at the admin's time in the admin's time zone, and off by default.
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestCa, requireBinary } from '@strata/core/testing'
import { startLabJob, until, type LabJob } from '../testing/lab-job.js'
import { startSmtpServer, type SmtpTestServer } from '../testing/smtp-test-server.js'
import { startWebhookReceiver, type WebhookReceiver } from '../testing/webhook-receiver.js'

const SMTP = { user: 'strata', password: 'smtp-password-for-the-summary' }
const SECRET = 'summary-webhook-secret-0123'

describe('the daily summary', { timeout: 180_000 }, () => {
  let t: LabJob
  let smtp: SmtpTestServer
  let hooks: WebhookReceiver

  beforeAll(async () => {
    requireBinary('openssl')
    // Runs are never reported on their own here: only the summary reaches the channels.
    t = await startLabJob('daily-summary', { report: 'never' })
    const ca = await makeTestCa(t.scratch.path('ca'))
    const certificate = await ca.issue('smtp', { commonName: '127.0.0.1', altNames: ['127.0.0.1'] })
    smtp = await startSmtpServer({ certificate, ...SMTP })
    hooks = await startWebhookReceiver()
    const settings = await t.api.patch('/api/settings/notifications', {
      publicUrl: 'https://strata.example.test/',
      smtp: {
        host: '127.0.0.1',
        port: smtp.port,
        security: 'starttls',
        username: SMTP.user,
        password: SMTP.password,
        from: 'strata@example.test',
        to: ['ops@example.test'],
        ca: ca.cert,
      },
    })
    expect(settings.status).toBe(200)
    const hook = await t.api.post('/api/settings/notifications/webhooks', {
      name: 'summary',
      url: `${hooks.url}/summary`,
      secret: SECRET,
    })
    expect(hook.status).toBe(201)
  }, 180_000)
  afterAll(async () => {
    await t?.close()
    await smtp?.close()
    await hooks?.close()
  })

  it('is off by default, and is scheduled at the time and in the time zone the admin sets', async () => {
    const daily = t.server.context.reporting.daily
    expect((await t.api.get('/api/settings/notifications')).body.dailySummary).toEqual({
      enabled: false,
      time: '07:00',
      timezone: 'UTC',
    })
    expect(daily.nextRun()).toBeUndefined()
    const on = await t.api.patch('/api/settings/notifications', {
      dailySummary: { enabled: true, time: '06:30', timezone: 'Asia/Kolkata' },
    })
    expect(on.status).toBe(200)
    // 06:30 in Kolkata (UTC+05:30) is 01:00 UTC, within the next day.
    const next = new Date(daily.nextRun()!)
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([1, 0])
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000)
    const bad = await t.api.patch('/api/settings/notifications', {
      dailySummary: { timezone: 'Mars/Olympus' },
    })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toContain("'Mars/Olympus' is not a time zone")
    expect(new Date(daily.nextRun()!).getUTCHours()).toBe(1)
  })

  it('mails and posts the summary of the last runs: states, last success, the failed VM and why', async () => {
    const ok = await t.run()
    expect(ok.status).toBe('success')
    t.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space left', ''], 2)
    const failed = await t.run()
    t.lab.faults.clear()
    expect(failed.status).toBe('failure')
    expect(smtp.messages).toHaveLength(0) // the policy 'never': no run report

    const [mails, posts] = [smtp.messages.length, hooks.received.length]
    t.server.context.reporting.daily.fire()
    const mail = await smtp.next(mails)
    expect(mail.user).toBe(SMTP.user)
    expect(mail.parsed.subject).toBe('[Strata] Daily summary: 1 job, 1 failing')
    const html = String(mail.parsed.html)
    expect(html).toContain('Nightly')
    expect(html).toContain('2: 1 failure, 1 success') // newest first
    expect(html).toContain('web-a')
    expect(html).toContain('SR_BACKEND_FAILURE_44')
    expect(html).toContain(`href="https://strata.example.test/logs/${failed.runId}"`)
    const text = String(mail.parsed.text)
    expect(text).toContain('Nightly: 2 run(s): 1 failure, 1 success')
    expect(text).toContain(`last success: ${new Date(ok.end).toUTCString()}`)
    expect(text).toMatch(new RegExp(`failed: web-a \\(.*SR_BACKEND_FAILURE_44.*\\) in run ${failed.runId}`))

    const hook = await until('the summary webhook', () =>
      hooks.received.slice(posts).find((h) => h.headers['x-strata-event'] === 'daily-summary'),
    )
    expect(hook.headers['x-strata-signature']).toBe(
      `sha256=${createHmac('sha256', SECRET).update(hook.body).digest('hex')}`,
    )
    const body = JSON.parse(hook.body) as {
      event: string
      summary: { jobs: { jobName: string; states: Record<string, number>; lastSuccess: number }[] }
    }
    expect(body.event).toBe('daily-summary')
    expect(body.summary.jobs).toEqual([
      expect.objectContaining({
        jobName: 'Nightly',
        states: { success: 1, failure: 1 },
        lastSuccess: ok.end,
      }),
    ])
  })
})
