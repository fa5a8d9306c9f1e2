// Reports of real lab runs through real channels: a real e-mail over SMTP with STARTTLS and
// authentication after a failing run (the failing VMs and the reason in it, names escaped), a signed
// webhook after a successful one (checked as a receiver would), secrets never returned, and an SMTP
// server that refuses or hangs: a clear line in the server's log, and the backup neither delayed nor
// failed.
import { createHmac, timingSafeEqual } from 'node:crypto'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestCa, requireBinary } from '@strata/core/testing'
import { startLabJob, until, type LabJob } from '../testing/lab-job.js'
import { hangingServer, startSmtpServer, type SmtpTestServer } from '../testing/smtp-test-server.js'
import { startWebhookReceiver, type WebhookReceiver } from '../testing/webhook-receiver.js'

const SMTP_USER = 'strata'
const SMTP_PASSWORD = 'smtp-password-for-reports'
const HOOK_SECRET = 'webhook-secret-0123456789'
const PUBLIC_URL = 'https://strata.example.test'
const ODD_VM = '<i>lab</i> & "co"'

/** What a receiver does (docs/api.md): HMAC-SHA256 of the raw body, compared in constant time. */
function verified(rawBody: string, header: string | undefined, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`)
  const given = Buffer.from(header ?? '')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

describe('reports of lab runs', { timeout: 180_000 }, () => {
  let t: LabJob
  let smtp: SmtpTestServer
  let hooks: WebhookReceiver
  let ca: string
  let hookId: string

  const smtpSettings = (port: number) => ({
    host: '127.0.0.1',
    port,
    security: 'starttls',
    username: SMTP_USER,
    from: 'strata@example.test',
    to: ['backup-admins@example.test'],
    ca,
  })

  beforeAll(async () => {
    requireBinary('openssl')
    t = await startLabJob('reports', {
      vms: [
        { name: 'web-a', tags: ['prod'] },
        { name: ODD_VM, tags: ['prod'] },
      ],
      report: 'always',
      server: {
        reporting: {
          webhookLimits: { retries: 3, attemptTimeoutMs: 5_000, baseDelayMs: 100, maxDelayMs: 400 },
        },
      },
    })
    const testCa = await makeTestCa(t.scratch.path('ca'))
    ca = testCa.cert
    const certificate = await testCa.issue('smtp', { commonName: '127.0.0.1', altNames: ['127.0.0.1'] })
    smtp = await startSmtpServer({ certificate, user: SMTP_USER, password: SMTP_PASSWORD })
    hooks = await startWebhookReceiver()
  }, 180_000)
  afterAll(async () => {
    await t?.close()
    await smtp?.close()
    await hooks?.close()
  })

  it('takes the SMTP server and a webhook, and never returns their secrets', async () => {
    const patched = await t.api.patch('/api/settings/notifications', {
      publicUrl: `${PUBLIC_URL}/`,
      smtp: { ...smtpSettings(smtp.port), password: SMTP_PASSWORD },
    })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({
      report: 'failure',
      publicUrl: PUBLIC_URL,
      smtp: { host: '127.0.0.1', security: 'starttls', passwordSet: true, enabled: true },
    })
    const hook = await t.api.post('/api/settings/notifications/webhooks', {
      name: 'ops',
      url: hooks.url,
      secret: HOOK_SECRET,
    })
    expect(hook.status).toBe(201)
    hookId = hook.body.id
    const text = JSON.stringify((await t.api.get('/api/settings/notifications')).body)
    expect(text).not.toContain(SMTP_PASSWORD)
    expect(text).not.toContain(HOOK_SECRET)
    // Sealed at rest, bound to their rows.
    const db = new Database(join(t.server.config.dataDir, 'strata.db'), { readonly: true })
    const sealed = [
      db.prepare('SELECT password_sealed AS s FROM smtp').get(),
      db.prepare('SELECT secret_sealed AS s FROM webhooks').get(),
    ] as { s: string }[]
    db.close()
    for (const { s } of sealed) expect(s).toMatch(/^v2:/)
    expect(sealed.map((x) => x.s).join()).not.toContain(SMTP_PASSWORD)
    // Clear text passwords over an unencrypted connection are refused, and nothing changes.
    const clear = await t.api.patch('/api/settings/notifications', {
      smtp: { ...smtpSettings(smtp.port), security: 'none', password: 'x' },
    })
    expect(clear.status).toBe(400)
    expect((await t.api.get('/api/settings/notifications')).body.smtp.security).toBe('starttls')
    // An operator may not read them (webhook URLs may hold tokens).
    expect(t.log.join('\n')).not.toContain(SMTP_PASSWORD)
  })

  it('mails the report of a failing run: the failing VMs, the reason, escaped names, a link', async () => {
    const mails = smtp.messages.length
    t.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space left', ''], 2)
    const run = await t.run()
    t.lab.faults.clear()
    expect(run.status).toBe('failure')
    const mail = await smtp.next(mails)
    expect(mail.secure).toBe(true)
    expect(mail.user).toBe(SMTP_USER)
    expect(mail.to).toEqual(['backup-admins@example.test'])
    expect(mail.parsed.subject).toBe('[Strata] Nightly: failure (2 of 2 VMs failed)')
    const html = String(mail.parsed.html)
    expect(html).toContain('web-a')
    expect(html).toContain('SR_BACKEND_FAILURE_44')
    expect(html).toContain('no space left')
    expect(html).toContain('&lt;i&gt;lab&lt;/i&gt; &amp; &quot;co&quot;')
    expect(html).not.toContain('<i>lab</i>')
    expect(html).toContain(`href="${PUBLIC_URL}/logs/${run.runId}"`)
    expect(html).toContain('#b91c1c') // the state in red
    const text = String(mail.parsed.text)
    expect(text).toContain(`Open the run in Strata: ${PUBLIC_URL}/logs/${run.runId}`)
    expect(text).toContain(`Strata backup run ${run.runId}`) // the engine's plain-text report
    expect(text).toMatch(/VM web-a: failure/)
    expect(text).toContain('SR_BACKEND_FAILURE_44')
  })

  it('delivers a signed webhook after a successful run, retried after a 503', async () => {
    const before = hooks.received.length
    hooks.answers.push(503)
    const run = await t.run()
    expect(run.status).toBe('success')
    const first = await hooks.next(before)
    const delivered = await hooks.next(before + 1)
    expect(first.headers['x-strata-delivery']).toBe(delivered.headers['x-strata-delivery'])
    expect(delivered.headers['x-strata-event']).toBe('run')
    expect(verified(delivered.body, delivered.headers['x-strata-signature'] as string, HOOK_SECRET)).toBe(
      true,
    )
    expect(
      verified(
        delivered.body.replace('success', 'failure'),
        delivered.headers['x-strata-signature'] as string,
        HOOK_SECRET,
      ),
    ).toBe(false)
    expect(
      verified(delivered.body, delivered.headers['x-strata-signature'] as string, 'another-secret-000'),
    ).toBe(false)
    const body = JSON.parse(delivered.body)
    expect(body).toMatchObject({
      event: 'run',
      run: {
        runId: run.runId,
        jobName: 'Nightly',
        status: 'success',
        url: `${PUBLIC_URL}/logs/${run.runId}`,
      },
    })
    expect(body.run.vms.map((v: { name: string; status: string }) => [v.name, v.status]).sort()).toEqual([
      [ODD_VM, 'success'],
      ['web-a', 'success'],
    ])
    expect(body.run.totals.bytesRead).toBeGreaterThan(0)
    expect(body.run.vms[0].durationMs).toBeGreaterThan(0)
  })

  it('logs an SMTP server that refuses, and one that hangs, without delaying or failing the backup', async () => {
    smtp.refuse = true
    try {
      const run = await t.run()
      expect(run.status).toBe('success')
      await until('the refusal in the log', () =>
        t.log.find(
          (l) => /error the report of run .* was not mailed: .*554/.test(l) && l.includes(run.runId),
        ),
      )
    } finally {
      smtp.refuse = false
    }
    const hang = await hangingServer()
    try {
      await t.api.patch('/api/settings/notifications', { smtp: smtpSettings(hang.port) })
      const started = Date.now()
      const run = await t.run()
      expect(run.status).toBe('success')
      // The report is still waiting for the server's greeting, and the job is free already.
      await until('the hanging connection', () => (hang.connections > 0 ? true : undefined))
      expect(t.log.some((l) => l.includes(run.runId) && l.includes('not mailed'))).toBe(false)
      const again = await t.api.post(`/api/jobs/${t.jobId}/run`)
      expect(again.status).toBe(202)
      const line = await until(
        'the timeout in the log',
        () => t.log.find((l) => l.includes(run.runId) && l.includes('not mailed')),
        40_000,
      )
      expect(line).toMatch(
        new RegExp(
          `SMTP server 127\\.0\\.0\\.1:${hang.port} failed: .*(timeout|Greeting never received)`,
          'i',
        ),
      )
      expect(Date.now() - started).toBeLessThan(60_000)
      await until('the second run', async () =>
        (await t.api.get(`/api/runs?job=${t.jobId}&state=pending`)).body.length === 0 ? true : undefined,
      )
    } finally {
      await hang.close()
    }
    // The webhook was delivered all along: one channel does not hold another.
    expect(hooks.received.length).toBeGreaterThanOrEqual(4)
  })

  it('sends a test report through one channel and answers with its error', async () => {
    await t.api.patch('/api/settings/notifications', { smtp: smtpSettings(smtp.port) })
    const mails = smtp.messages.length
    const ok = await t.api.post('/api/settings/notifications/test', { channel: 'email' })
    expect(ok.status).toBe(200)
    expect((await smtp.next(mails)).parsed.subject).toBe('[Strata] Test report')
    const hook = await t.api.post('/api/settings/notifications/test', {
      channel: 'webhook',
      webhookId: hookId,
    })
    expect(hook.status).toBe(200)
    await t.api.patch(`/api/settings/notifications/webhooks/${hookId}`, { url: 'http://127.0.0.1:9/nothing' })
    const refused = await t.api.post('/api/settings/notifications/test', {
      channel: 'webhook',
      webhookId: hookId,
    })
    expect(refused.status).toBe(502)
    expect(refused.body.error).toMatchObject({
      code: 'WEBHOOK_FAILED',
      message: expect.stringContaining("webhook 'ops' (http://127.0.0.1:9)"),
    })
  })
})
