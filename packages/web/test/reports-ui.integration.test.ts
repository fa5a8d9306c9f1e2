// The UI's charts and notification settings end to end, in Debian's Chromium against the real server:
// the charts draw a successful and a failed lab run and the repository's usage samples (a table
// alternative with the same numbers, readable by keyboard and at phone width), and Settings →
// Notifications mails a test report through a real SMTP server and delivers a signed test webhook.
import { createHmac } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { APIRequestContext, Page } from 'playwright-core'
import { makeTestCa } from '@strata/core/testing'
import {
  startSmtpServer,
  startWebhookReceiver,
  type SmtpTestServer,
  type WebhookReceiver,
} from '@strata/server/testing'
import { ADMIN, LAB_PASSWORD, logIn, startStack, type Stack } from './stack.js'

const WAIT = { timeout: 30_000 }
const SMTP = { user: 'strata', password: 'smtp-password-of-the-ui-test' }
const HOOK_SECRET = 'ui-webhook-secret-0123456789'
const CSRF = { 'x-strata-request': '1' }

async function call(request: APIRequestContext, method: 'post' | 'get', path: string, data?: unknown) {
  const response = await request[method](path, { headers: CSRF, ...(data === undefined ? {} : { data }) })
  if (!response.ok()) throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

/** Waits for a run of the job to end; its status. */
async function runJob(request: APIRequestContext, jobId: string): Promise<string> {
  const { runId } = await call(request, 'post', `/api/jobs/${jobId}/run`)
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const runs = (await call(request, 'get', `/api/runs?job=${jobId}&limit=20`)) as unknown as {
      runId: string
      status: string
    }[]
    const run = runs.find((r) => r.runId === runId && r.status !== 'pending')
    if (run !== undefined) return run.status
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`run ${String(runId)} did not end`)
}

/**
 * The chart's values in its table alternative, opened by keyboard: each row's label and cells, in order
 * (two runs ending within the same minute have the same label, so the rows are not keyed by it).
 */
async function chartRows(page: Page, title: string): Promise<[string, string[]][]> {
  const figure = page.locator(`figure[data-chart="${title}"]`)
  const summary = figure.locator('summary')
  if ((await figure.locator('details').getAttribute('open')) === null) {
    await summary.focus()
    await page.keyboard.press('Enter')
  }
  const rows = figure.locator('tbody tr')
  await rows.first().waitFor()
  const table: [string, string[]][] = []
  for (const row of await rows.all())
    table.push([(await row.locator('th').textContent())!.trim(), await row.locator('td').allTextContents()])
  return table
}

/** The chart's table alternative keyed by row label (for charts whose labels are unique: days, samples). */
async function chartTable(page: Page, title: string): Promise<Map<string, string[]>> {
  return new Map(await chartRows(page, title))
}

/** The canvas as the browser has it (this package's tests are type-checked without the DOM library). */
interface Canvas2d {
  readonly width: number
  readonly height: number
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray }
  }
}

/** How many pixels of the chart's canvas are drawn (not transparent). */
function inkedPixels(page: Page, title: string): Promise<number> {
  return page.locator(`figure[data-chart="${title}"] canvas`).evaluate((element) => {
    const c = element as unknown as Canvas2d
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++
    return n
  })
}

describe('charts and notifications in the UI', { timeout: 240_000 }, () => {
  let stack: Stack
  let admin: Page
  let smtp: SmtpTestServer
  let hooks: WebhookReceiver
  let ca: string

  beforeAll(async () => {
    stack = await startStack()
    const testCa = await makeTestCa(stack.scratch.path('ca'))
    ca = testCa.cert
    const certificate = await testCa.issue('smtp', { commonName: '127.0.0.1', altNames: ['127.0.0.1'] })
    smtp = await startSmtpServer({ certificate, ...SMTP })
    hooks = await startWebhookReceiver()
    admin = await stack.newPage()
    await logIn(admin, ADMIN.username, ADMIN.password)
    await admin.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    const r = admin.request
    const pool = await call(r, 'post', '/api/pools', {
      name: 'lab',
      url: stack.lab.url,
      username: 'root',
      password: LAB_PASSWORD,
      fingerprint: stack.lab.fingerprint,
    })
    const repo = await call(r, 'post', '/api/repositories', {
      name: 'local',
      location: stack.scratch.path('repo'),
      init: true,
    })
    const job = await call(r, 'post', '/api/jobs', {
      name: 'Nightly web',
      vms: { smart: { pools: [pool.id], tags: ['prod'], powerState: 'Running' } },
      repositories: [repo.id],
    })
    expect(await runJob(r, job.id as string)).toBe('success')
    stack.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 5)
    try {
      expect(await runJob(r, job.id as string)).toBe('failure')
    } finally {
      stack.lab.faults.clear()
    }
  }, 240_000)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(async () => {
    await stack?.close()
    await smtp?.close()
    await hooks?.close()
  })

  it('draws the runs of the last weeks: outcomes per day, durations and bytes per job', async () => {
    await admin.goto('/')
    const outcomes = 'Succeeded and failed per day'
    await expect
      .poll(() => admin.locator(`figure[data-chart="${outcomes}"]`).getAttribute('data-points'), WAIT)
      .toBe('56') // 28 days, two series
    const today = (await chartTable(admin, outcomes)).get(
      new Date().toLocaleDateString('sv-SE'), // YYYY-MM-DD, the browser's (and the test's) local day
    )
    expect(today).toEqual(['1', '1'])
    const durations = await chartRows(admin, 'Run durations per job')
    expect(durations.map(([, cells]) => cells.length)).toEqual([1, 1])
    expect(
      await admin.locator('figure[data-chart="Run durations per job"]').getAttribute('data-points'),
    ).toBe('2')
    const read = await chartRows(admin, 'Bytes read per job')
    expect(read[0]![1][0]).toMatch(/\d.*B$/)
    for (const title of [outcomes, 'Run durations per job', 'Bytes read per job'])
      expect(await inkedPixels(admin, title)).toBeGreaterThan(500)
    const canvas = admin.locator(`figure[data-chart="${outcomes}"] canvas`)
    expect(await canvas.getAttribute('tabindex')).toBe('0')
    expect(await canvas.getAttribute('aria-label')).toContain(outcomes)
    await stack.screenshot(admin, 'charts-overview')
  })

  it('draws stored against logical bytes of the repository from its usage samples', async () => {
    const title = 'local: stored and logical bytes'
    type Usage = { samples: { storedBytes: number; logicalBytes: number }[] }[]
    // The server samples when the repository is added (nothing in it yet), a few seconds after runs end,
    // and hourly: the API is read until a sample after the runs is there, and the page until it agrees
    // with the API (a sample taken between the two reads makes them differ once).
    let samples: Usage[number]['samples'] = []
    await expect
      .poll(async () => {
        samples = ((await (await admin.request.get('/api/stats/usage')).json()) as Usage)[0]!.samples
        await admin.goto('/repositories')
        const rows = (await chartRows(admin, title)).length
        return samples.length > 0 && samples.at(-1)!.logicalBytes > 0 && rows === samples.length
      }, WAIT)
      .toBe(true)
    const figure = admin.locator(`figure[data-chart="${title}"]`)
    expect(Number(await figure.getAttribute('data-points'))).toBe(2 * samples.length)
    expect(await inkedPixels(admin, title)).toBeGreaterThan(500)
    await stack.screenshot(admin, 'charts-repository')
  })

  it('fits the charts and their tables at phone width', async () => {
    const phone = await stack.newPage({ width: 390, height: 844 })
    await phone.context().addCookies(await admin.context().cookies())
    await phone.goto('/')
    const figure = phone.locator('figure[data-chart="Run durations per job"]')
    await figure.waitFor()
    await chartTable(phone, 'Run durations per job')
    const box = (await figure.boundingBox())!
    expect(box.x + box.width).toBeLessThanOrEqual(390)
    expect(
      await phone.evaluate(
        () =>
          (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
            .documentElement.scrollWidth,
      ),
    ).toBeLessThanOrEqual(390)
    await stack.screenshot(phone, 'charts-phone')
    await phone.context().close()
  })

  it('sets the SMTP server and mails a test report; the password is never shown again', async () => {
    await admin.goto('/settings')
    await admin.getByRole('heading', { name: 'Notifications' }).waitFor()
    await admin.locator('input[name=smtp-host]').fill('127.0.0.1')
    await admin.locator('input[name=smtp-port]').fill(String(smtp.port))
    await admin.locator('select[name=smtp-security]').selectOption('starttls')
    await admin.locator('input[name=smtp-username]').fill(SMTP.user)
    await admin.locator('input[name=smtp-password]').fill(SMTP.password)
    await admin.locator('input[name=smtp-from]').fill('strata@example.test')
    await admin.locator('input[name=smtp-to]').fill('ops@example.test, backup@example.test')
    await admin.locator('textarea[name=smtp-ca]').fill(ca)
    await admin.getByRole('button', { name: 'Save SMTP' }).click()
    await admin.getByText('SMTP server saved.').waitFor()
    expect(await admin.locator('input[name=smtp-password]').inputValue()).toBe('')
    expect(await admin.content()).not.toContain(SMTP.password)
    expect(await (await admin.request.get('/api/settings/notifications')).text()).not.toContain(SMTP.password)

    const before = smtp.messages.length
    await admin.getByRole('button', { name: 'Send a test e-mail' }).click()
    const mail = await smtp.next(before)
    expect(mail.parsed.subject).toBe('[Strata] Test report')
    expect(mail.to).toEqual(['ops@example.test', 'backup@example.test'])
    expect(mail.user).toBe(SMTP.user)
    await admin.getByText('A test report was mailed to ops@example.test, backup@example.test.').waitFor()

    smtp.refuse = true
    try {
      await admin.getByRole('button', { name: 'Send a test e-mail' }).click()
      await expect
        .poll(() => admin.locator('[data-test=smtp]').getByRole('alert').textContent(), WAIT)
        .toContain('refused by the test server')
    } finally {
      smtp.refuse = false
    }
  })

  it('adds a webhook and delivers a signed test report, and shows the error of a failing receiver', async () => {
    await admin.locator('input[name=webhook-name]').fill('chat')
    await admin.locator('input[name=webhook-url]').fill(`${hooks.url}/strata`)
    await admin.locator('input[name=webhook-secret]').fill(HOOK_SECRET)
    await admin.getByRole('button', { name: 'Add webhook' }).click()
    const row = admin.locator('tr[data-webhook="chat"]')
    await row.waitFor()
    expect(await admin.content()).not.toContain(HOOK_SECRET)

    const before = hooks.received.length
    await row.getByRole('button', { name: 'Send a test' }).click()
    const hook = await hooks.next(before)
    const signature = `sha256=${createHmac('sha256', HOOK_SECRET).update(hook.body).digest('hex')}`
    expect(hook.headers['x-strata-signature']).toBe(signature)
    expect(JSON.parse(hook.body)).toMatchObject({ event: 'test' })
    await admin.getByText('A test report was delivered to "chat".').waitFor()

    hooks.answers.push(500)
    await row.getByRole('button', { name: 'Send a test' }).click()
    const alert = admin.locator('[data-test=webhooks]').getByRole('alert')
    await expect.poll(() => alert.textContent(), WAIT).toContain('WEBHOOK_FAILED')
    expect(await alert.textContent()).toContain("webhook 'chat'")
    await stack.screenshot(admin, 'settings-notifications')
  })
})
