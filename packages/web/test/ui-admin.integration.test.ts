// The UI end to end, what an XO admin looks for (admin-steps.ts): coverage and each job's last runs, run
// filters and reports, the overview (on a phone too), every page without a script error, a pool whose
// certificate or password changed, a read-only user who can look but not change, and API tokens.
// Starts where the first day ends (ui-fixture.ts), with the job's runs: a success, a failure, a success.
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { coverage, editPoolPassword, expectPath, jobStrip, nav, runFilters } from './admin-steps.js'
import { logIn, type Stack } from './stack.js'
import { JOB, STEP, WAIT, afterFirstDay, failedRun, runJob, useStack } from './ui-fixture.js'

const VIEWER = { username: 'viewer', password: 'viewer-e2e-password' }

describe('web UI end to end: the admin', { timeout: STEP }, () => {
  let stack: Stack
  let admin: Page
  useStack(async (s, a) => {
    ;[stack, admin] = [s, a]
    const { jobId } = await afterFirstDay(stack, admin)
    await failedRun(stack, admin, jobId)
    expect(await runJob(admin, jobId)).toBe('success')
  })

  it("shows each VM's last backup, the VMs no job covers, and each job's last runs", async () => {
    await coverage(stack, admin)
    await jobStrip(stack, admin, JOB)
  })

  it('filters the runs by job, state and date, names what they were about, copies a report', async () => {
    await runFilters(stack, admin, JOB)
  })

  it('shows the overview with the last runs and the failure', async () => {
    await nav(admin, 'Overview').click()
    await admin
      .getByRole('table', { name: 'Last runs' })
      .locator('.badge[data-status="success"]')
      .first()
      .waitFor()
    await stack.screenshot(admin, 'overview')
    const phone = await stack.newPage({ width: 390, height: 844 })
    await phone.context().addCookies(await admin.context().cookies())
    await phone.goto('/')
    await phone.getByRole('button', { name: 'Menu' }).click()
    await nav(phone, 'Logs').click()
    await phone.locator('tbody tr').first().waitFor()
    await stack.screenshot(phone, 'logs-phone')
    await phone.context().close()
  })

  it('renders every page without a script error', async () => {
    const errors: string[] = []
    admin.on('pageerror', (e) => errors.push(e.message))
    admin.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())))
    const pages = ['Overview', 'Jobs', 'Logs', 'Restore', 'Pools', 'Repositories', 'Users', 'Settings']
    for (const title of pages) {
      await nav(admin, title).click()
      await admin.getByRole('heading', { level: 1, name: title }).waitFor()
    }
    await stack.screenshot(admin, 'settings')
    expect(errors).toEqual([])
  })

  it('shows a pool whose certificate changed with both fingerprints until the admin accepts the new one', async () => {
    const old = stack.lab.fingerprint
    const renewed = await stack.lab.renewCertificate()
    await stack.lab.restartToolstack(0)
    await nav(admin, 'Pools').click()
    const row = admin.locator('tr[data-pool="lab"]')
    const problem = row.locator('[data-test="certificate-problem"]')
    await expect.poll(() => problem.textContent(), { timeout: 60_000 }).toContain(renewed)
    expect(await problem.textContent()).toContain(old)
    await stack.screenshot(admin, 'pool-certificate-changed')
    admin.once('dialog', (dialog) => void dialog.accept())
    await row.getByRole('button', { name: 'Accept new certificate' }).click()
    await row.getByText('connected', { exact: true }).waitFor({ timeout: 30_000 })
    expect(await row.locator('[data-test="pool-trust"] [title]').getAttribute('title')).toBe(renewed)
  })

  it("edits a pool's password: a wrong one shows why and fails a run naming the pool, the right one connects again", async () => {
    await editPoolPassword(stack, admin, JOB)
  })

  it('lets a read-only user look but not change anything', async () => {
    await nav(admin, 'Users').click()
    await admin.getByLabel('Username').fill(VIEWER.username)
    await admin.getByLabel('Password').fill(VIEWER.password)
    await admin.locator('select[name=new-role]').selectOption('read-only')
    await admin.getByRole('button', { name: 'Add user' }).click()
    await admin.locator(`tr[data-user="${VIEWER.username}"]`).waitFor()

    const viewer = await stack.newPage()
    await logIn(viewer, VIEWER.username, VIEWER.password)
    await expectPath(viewer, '/')
    await nav(viewer, 'Jobs').click()
    await viewer.locator(`tr[data-job="${JOB}"]`).waitFor()
    expect(await viewer.getByRole('link', { name: 'New job' }).count()).toBe(0)
    expect(await viewer.getByRole('button', { name: `Run ${JOB} now` }).isDisabled()).toBe(true)
    expect(await viewer.getByRole('button', { name: `Delete ${JOB}` }).count()).toBe(0)
    await viewer.getByRole('link', { name: JOB }).click()
    expect(await viewer.getByLabel('Name', { exact: true }).isDisabled()).toBe(true)
    await nav(viewer, 'Pools').click()
    await viewer.locator('tr[data-pool="lab"]').waitFor()
    expect(await viewer.getByRole('button', { name: 'Connect' }).count()).toBe(0)

    // What the UI hides, the server refuses.
    const jobs = (await (await viewer.request.get('/api/jobs')).json()) as { id: string; name: string }[]
    const job = jobs.find((j) => j.name === JOB)!
    expect((await viewer.request.patch(`/api/jobs/${job.id}`, { data: { enabled: false } })).status()).toBe(
      403,
    )
    expect((await viewer.request.post(`/api/jobs/${job.id}/run`, { data: {} })).status()).toBe(403)
    expect(
      (
        await viewer.request.post('/api/pools', { data: { name: 'x', url: 'http://x', password: 'x' } })
      ).status(),
    ).toBe(403)
    expect((await viewer.request.delete(`/api/jobs/${job.id}`)).status()).toBe(403)
    await viewer.context().close()
  })

  it('creates an API token shown once, lists it with its expiry and revokes it', async () => {
    await nav(admin, 'Settings').click()
    const tokens = admin.getByRole('region', { name: 'API tokens' })
    await tokens.getByLabel('Name').fill('nightly export')
    await tokens.getByLabel('Expires in (days)').fill('7')
    await tokens.getByRole('button', { name: 'Create a token' }).click()
    const shown = admin.locator('[data-test="new-token"] code')
    await shown.waitFor()
    const secret = (await shown.textContent())!.trim()
    expect(secret).toMatch(/^strata_/)
    const row = admin.locator('tr[data-token="nightly export"]')
    await expect.poll(() => row.getAttribute('data-state'), WAIT).toBe('active')
    expect(await row.textContent()).toMatch(/in 6 d|in 7 d/)
    const bearer = { headers: { authorization: `Bearer ${secret}` } }
    const byToken = await stack.browser.newContext({ baseURL: stack.url })
    expect((await byToken.request.get('/api/me', bearer)).status()).toBe(200)
    await stack.screenshot(admin, 'api-tokens')
    // Listed again after a reload, the secret is not shown any more.
    await admin.reload()
    await row.waitFor()
    expect(await admin.locator('[data-test="new-token"]').count()).toBe(0)
    expect(await admin.content()).not.toContain(secret)
    await row.getByRole('button', { name: 'Revoke nightly export' }).click()
    await expect.poll(() => row.getAttribute('data-state'), WAIT).toBe('revoked')
    expect((await byToken.request.get('/api/me', bearer)).status()).toBe(401)
    await byToken.close()
  })
})
