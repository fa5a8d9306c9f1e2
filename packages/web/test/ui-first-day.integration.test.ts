// The UI end to end, in Debian's Chromium against the real server and a lab pool: what an XO user does on
// a first day (log in, connect a pool, add repositories, create a smart job, run it and see it turn green,
// make replication and metadata jobs, see a run fail) and what must be refused (a wrong password).
// ui-restore and ui-admin start where this story ends (ui-fixture.ts); screenshots go to the artifacts
// folder printed at the end.
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import {
  editorAsStored,
  expectPath,
  handPickedAsStored,
  nav,
  repositoryChoices,
  usageMeasuring,
} from './admin-steps.js'
import { ADMIN, LAB_PASSWORD, logIn, type Stack } from './stack.js'
import { JOB, STEP, WAIT, useStack, type Job } from './ui-fixture.js'

describe('web UI end to end: the first day', { timeout: STEP }, () => {
  let stack: Stack
  let admin: Page
  useStack((s, a) => void ([stack, admin] = [s, a]))

  it('refuses a wrong password and stays on the login page', async () => {
    const page = await stack.newPage()
    await page.goto('/jobs')
    await expectPath(page, '/login')
    await logIn(page, ADMIN.username, 'not-the-password')
    await expect.poll(() => page.getByRole('alert').textContent(), WAIT).toMatch(/\S/)
    await expectPath(page, '/login')
    expect((await page.request.get('/api/jobs')).status()).toBe(401)
    await page.context().close()
  })

  it('logs in and connects the lab pool, accepting the certificate fingerprint it shows', async () => {
    await logIn(admin, ADMIN.username, ADMIN.password)
    await expectPath(admin, '/')
    await nav(admin, 'Pools').click()
    await admin.getByLabel('Name').fill('lab')
    await admin.getByLabel(/^URL/).fill(stack.lab.url)
    await admin.getByLabel('User').fill('root')
    await admin.getByLabel('Password').fill(LAB_PASSWORD)
    await admin.getByRole('button', { name: 'Connect' }).click()
    // First contact: the certificate the host presents, to compare with the host's own, nothing stored.
    const offered = admin.locator('[data-test="offered-fingerprint"]')
    await expect.poll(() => offered.textContent(), WAIT).toBe(stack.lab.fingerprint)
    expect(await admin.locator('[data-test="offer"]').textContent()).toContain('/etc/xensource/xapi-ssl.pem')
    expect((await (await admin.request.get('/api/pools')).json()) as unknown[]).toEqual([])
    await stack.screenshot(admin, 'pool-certificate')
    await admin.getByRole('button', { name: 'Accept and connect' }).click()
    const row = admin.locator('tr[data-pool="lab"]')
    await row.getByText('connected', { exact: true }).waitFor({ timeout: 30_000 })
    expect(await row.locator('[data-test="pool-trust"] [title]').getAttribute('title')).toBe(
      stack.lab.fingerprint,
    )
    await row.getByRole('button', { name: 'VMs', exact: true }).click()
    await admin.locator('li[data-vm="web-01"]').waitFor()
  })

  it('adds a local repository', async () => {
    await nav(admin, 'Repositories').click()
    await admin.getByLabel('Name').fill('local')
    await admin.getByLabel(/^Path/).fill(stack.scratch.path('repo'))
    await admin.getByRole('button', { name: 'Add repository' }).click()
    await admin.locator('tr[data-repository="local"]').waitFor()
    await usageMeasuring(stack, admin)
  })

  it('adds a short passphrase only when told to, and accepts a re-created repository knowingly', async () => {
    await repositoryChoices(stack, admin)
  })

  it('creates a smart job with a live preview of the VMs it matches', async () => {
    await nav(admin, 'Jobs').click()
    await admin.getByRole('link', { name: 'New job' }).click()
    await admin.getByLabel('Name', { exact: true }).fill(JOB)
    await admin.getByLabel(/^Tags/).fill('prod')
    const preview = admin.locator('[data-test="preview"]')
    await expect.poll(() => preview.textContent(), WAIT).toContain('db-01') // tagged prod too, but halted
    await admin.locator('select[name=smart-power]').selectOption('Running')
    await expect.poll(() => preview.textContent(), WAIT).not.toContain('db-01')
    expect(await preview.textContent()).toContain('web-01')
    await admin.locator('input[name="repository-local"]').check()
    await admin.locator('details > summary', { hasText: 'Advanced settings' }).click()
    await stack.screenshot(admin, 'job-editor')
    await admin.getByRole('button', { name: 'Create job' }).click()
    await expectPath(admin, '/jobs')
    await admin.locator(`tr[data-job="${JOB}"]`).waitFor()
    await stack.screenshot(admin, 'jobs')
    // Disabled and enabled again, as the server keeps it.
    const enabled = admin.getByRole('checkbox', { name: `${JOB} enabled` })
    const patched = () => admin.waitForResponse((r) => r.request().method() === 'PATCH' && r.ok())
    await Promise.all([patched(), enabled.uncheck()])
    await admin.reload()
    await expect.poll(() => enabled.isChecked(), WAIT).toBe(false)
    await Promise.all([patched(), enabled.check()])
    await admin.reload()
    await expect.poll(() => enabled.isChecked(), WAIT).toBe(true)
    // Edited: the retention of its schedule. The editor shows the job as stored, defaults included.
    await admin.getByRole('link', { name: JOB, exact: true }).click()
    await admin.locator('details > summary', { hasText: 'Advanced settings' }).click()
    const stored = ((await (await admin.request.get('/api/jobs')).json()) as Job[]).find(
      (j) => j.name === JOB,
    )!
    expect(await admin.locator('input[name="preferNbd"]').isChecked()).toBe(stored.settings.preferNbd)
    expect(await admin.locator('input[name="fullInterval"]').inputValue()).toBe(
      String(stored.settings.fullInterval),
    )
    await admin.locator('input[name="schedule-0-keepLast"]').fill('3')
    await admin.getByRole('button', { name: 'Save job' }).click()
    await expectPath(admin, '/jobs')
    const jobs = (await (await admin.request.get('/api/jobs')).json()) as Job[]
    expect(jobs.find((j) => j.name === JOB)?.schedules[0]?.retention.keepLast).toBe(3)
    await editorAsStored(admin, JOB)
    await handPickedAsStored(admin)
  })

  it('runs the job and shows it turn green live, with its task tree', async () => {
    await admin.getByRole('button', { name: `Run ${JOB} now` }).click()
    await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
    await admin.locator('[data-test="run-status"][data-status="pending"]').waitFor()
    await admin
      .getByRole('progressbar', { name: /^Progress of transfer/ })
      .first()
      .waitFor()
    await stack.screenshot(admin, 'run-live')
    await admin.locator('[data-test="run-status"][data-status="success"]').waitFor({ timeout: 120_000 })
    const tree = admin.locator('[data-test="task-tree"]')
    await tree.getByText('VM web-01').waitFor()
    expect(await tree.locator('[data-task="transfer"]').count()).toBeGreaterThan(0)
    expect(await tree.locator('.badge[data-status="failure"]').count()).toBe(0)
    await stack.screenshot(admin, 'run-success')
  })

  it('creates a replication job (kind, target SR, health check), runs it and lists its replica', async () => {
    const name = 'Replicas of web'
    await nav(admin, 'Jobs').click()
    await admin.getByRole('link', { name: 'New job' }).click()
    await admin.getByLabel('Name', { exact: true }).fill(name)
    await admin.locator('select[name=kind]').selectOption('replication')
    // Replication: target SRs instead of repositories, and the crash-consistent note.
    expect(await admin.locator('input[name="repository-local"]').count()).toBe(0)
    await admin.locator('[data-test="crash-consistent"]').waitFor()
    await admin.getByLabel(/^Tags/).fill('prod')
    await admin.locator('select[name=smart-power]').selectOption('Running')
    await admin.locator('button[name="add-target"]').click()
    const sr = admin.locator('select[name="target-0-sr"]')
    await sr.waitFor(WAIT)
    await sr.selectOption({ label: 'Local storage' })
    await admin.locator('input[name="schedule-0-health-check"]').check()
    await stack.screenshot(admin, 'replication-job-editor')
    await admin.getByRole('button', { name: 'Create job' }).click()
    await expectPath(admin, '/jobs')
    const row = admin.locator(`tr[data-job="${name}"]`)
    await row.waitFor()
    expect(await row.textContent()).toMatch(/replication, delta/)
    const stored = (
      (await (await admin.request.get('/api/jobs')).json()) as (Job & {
        kind: string
        targets: unknown[]
      })[]
    ).find((j) => j.name === name)!
    expect(stored.kind).toBe('replication')
    expect(stored.targets).toHaveLength(1)
    await admin.getByRole('button', { name: `Run ${name} now` }).click()
    await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
    await admin.locator('[data-test="run-status"][data-status="success"]').waitFor({ timeout: 120_000 })
    await nav(admin, 'Jobs').click()
    await row.getByRole('link', { name: 'replicas', exact: true }).click()
    await admin.getByRole('heading', { level: 1, name: `Replicas of ${name}` }).waitFor()
    await admin.locator('tr[data-replica]').first().waitFor(WAIT)
    expect(await admin.getByRole('button', { name: 'Start replica' }).count()).toBe(1)
    await stack.screenshot(admin, 'replicas')
  })

  it('creates a metadata job, runs it and shows its points as metadata', async () => {
    const name = 'Pool metadata'
    await nav(admin, 'Jobs').click()
    await admin.getByRole('link', { name: 'New job' }).click()
    await admin.getByLabel('Name', { exact: true }).fill(name)
    await admin.locator('select[name=kind]').selectOption('metadata')
    // Pools and repositories; no mode.
    await admin.locator('[data-test="metadata-pools"]').waitFor()
    expect(await admin.locator('select[name=mode]').count()).toBe(0)
    await admin.locator('input[name="repository-local"]').check()
    await stack.screenshot(admin, 'metadata-job-editor')
    await admin.getByRole('button', { name: 'Create job' }).click()
    await expectPath(admin, '/jobs')
    const row = admin.locator(`tr[data-job="${name}"]`)
    await row.waitFor()
    expect(await row.textContent()).toMatch(/· metadata/)
    await admin.getByRole('button', { name: `Run ${name} now` }).click()
    await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
    await admin.locator('[data-test="run-status"][data-status="success"]').waitFor({ timeout: 120_000 })
    await nav(admin, 'Repositories').click()
    await admin.locator('tr[data-repository="local"]').getByRole('link', { name: 'local' }).click()
    const points = admin.locator('tr[data-point-id][data-vm="database of pool lab"]')
    await expect.poll(() => points.count(), WAIT).toBe(1)
    expect(await points.first().textContent()).toContain('metadata')
    await admin.locator('tr[data-point-id][data-vm="Strata configuration"]').waitFor(WAIT)
    await stack.screenshot(admin, 'metadata-points')
  })

  it('shows a failed run in red with its reason', async () => {
    stack.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 5)
    try {
      await nav(admin, 'Jobs').click()
      await admin.getByRole('button', { name: `Run ${JOB} now` }).click()
      await admin.locator('[data-test="run-status"][data-status="failure"]').waitFor({ timeout: 120_000 })
      await expect
        .poll(() => admin.locator('[data-test="failure-reasons"]').textContent(), WAIT)
        .toContain('SR_BACKEND_FAILURE_44')
      await stack.screenshot(admin, 'run-failure')
    } finally {
      stack.lab.faults.clear()
    }
    await nav(admin, 'Logs').click()
    await admin.locator('tr.tone-bad').first().waitFor()
    await admin.locator('tr.tone-ok').first().waitFor()
    await stack.screenshot(admin, 'logs')
    await admin.locator('select[name=status]').selectOption('failure')
    await expect.poll(() => admin.locator('tbody tr.tone-ok').count(), WAIT).toBe(0)
    expect(await admin.locator('tbody tr.tone-bad').count()).toBeGreaterThan(0)
  })
})
