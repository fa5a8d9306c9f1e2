// The UI end to end, in Debian's Chromium against the real server and a lab pool: what an XO user does
// on a first day (log in, connect a pool, add a repository, create a smart job, run it, see it fail,
// restore a VM) and what must be refused (a wrong password, changes by a read-only user); then what an
// XO admin looks for (admin-steps.ts): the restore point browser, a restore confirmed before it starts,
// pools edited in place, run filters, coverage; and a point's files browsed and downloaded. Screenshots go to the artifacts folder printed at the end.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import type { Page } from 'playwright-core'
import {
  browsePoints,
  confirmRestore,
  coverage,
  editPoolPassword,
  editorAsStored,
  expectPath,
  handPickedAsStored,
  jobStrip,
  nav,
  repositoryChoices,
  restoreFacts,
  runFilters,
  secondBackup,
  setRestoreTag,
  usageMeasuring,
} from './admin-steps.js'
import { ADMIN, LAB_PASSWORD, artifactsDir, logIn, startStack, type Stack } from './stack.js'

interface Job {
  id: string
  name: string
  settings: { preferNbd: boolean; fullInterval: number }
  schedules: { retention: { keepLast: number } }[]
}

const JOB = 'Smart prod'
/** Each step waits for real backups and restores in the lab. */
const STEP = 150_000
const WAIT = { timeout: 30_000 }
/** An appliance for file restore starts in about 20 s, a minute or more under TCG on a busy host. */
const BOOT = 360_000
const VIEWER = { username: 'viewer', password: 'viewer-e2e-password' }
const RESTORE_TAG = 'restored by e2e'

describe('web UI end to end', { timeout: STEP }, () => {
  let stack: Stack
  let admin: Page

  beforeAll(async () => {
    stack = await startStack()
    admin = await stack.newPage()
  }, 180_000)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(async () => {
    await stack?.close()
    console.log(`web UI screenshots: ${artifactsDir}`)
  }, STEP)

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

  it('restores the VM onto the lab pool, once the admin confirmed what it creates', async () => {
    await setRestoreTag(admin, RESTORE_TAG)
    const before = stack.lab.vmNames().filter((n) => n.startsWith('web-01')).length
    await nav(admin, 'Restore').click()
    await admin.locator('select[name=restore-repository]').selectOption({ label: 'local' })
    await admin.locator('select[name=restore-vm]').selectOption({ index: 1 })
    await admin.locator('[data-point]').first().waitFor()
    await admin.locator('select[name=restore-pool]').selectOption({ label: 'lab' })
    await expect.poll(() => admin.locator('select[name=restore-sr]').inputValue(), WAIT).not.toBe('')
    await stack.screenshot(admin, 'restore')
    await confirmRestore(stack, admin, RESTORE_TAG)
    await admin.locator('.restore-started .badge[data-status="success"]').waitFor({ timeout: 120_000 })
    await stack.screenshot(admin, 'restore-done')
    await restoreFacts(stack, admin)
    expect(stack.lab.vmNames().filter((n) => n.startsWith('web-01')).length).toBe(before + 1)
    await nav(admin, 'Pools').click()
    await admin.locator('tr[data-pool="lab"]').getByRole('button', { name: 'VMs', exact: true }).click()
    await expect.poll(() => admin.locator('li[data-vm^="web-01"]').count(), WAIT).toBe(before + 1)
  })

  it('browses the files of a restore point and downloads a folder as a zip', { timeout: BOOT }, async () => {
    requireBinary('guestfish')
    await nav(admin, 'Restore').click()
    await admin.locator('select[name=restore-repository]').selectOption({ label: 'local' })
    await admin.locator('select[name=restore-vm]').selectOption({ index: 1 })
    await admin.locator('[data-point]').first().waitFor()
    await admin.getByRole('link', { name: 'Browse files' }).first().click()
    await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/restore\/files\//)
    // The seed disk: an MBR and one ext4 partition, chosen without asking. The appliance starts first.
    await admin.locator('tr.entry[data-path="/etc"]').waitFor({ timeout: BOOT - 60_000 })
    await admin.locator('tr.entry[data-path="/etc"] a').click()
    await admin.locator('tr.entry[data-path="/etc/hostname"]').waitFor()
    await admin.locator('nav.crumbs a[data-path="/"]').click()
    await admin.getByLabel('Select /etc', { exact: true }).check()
    await admin.locator('input[name=files-search]').fill('DISK-0')
    await admin.getByRole('button', { name: 'Search' }).click()
    await admin.getByLabel('Select /srv/web-01/disk-0.txt').check()
    await stack.screenshot(admin, 'files')
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('link', { name: 'Download as zip' }).click(),
    ])
    const zip = stack.scratch.path('files.zip')
    await download.saveAs(zip)
    const unzipped = stack.scratch.path('files')
    await promisify(execFile)('unzip', ['-q', zip, '-d', unzipped])
    expect(await readFile(join(unzipped, 'etc/hostname'), 'utf8')).toBe('web-01\n')
    expect(await readFile(join(unzipped, 'etc/os-release'), 'utf8')).toContain('ID=debian')
    expect(await readFile(join(unzipped, 'disk-0.txt'), 'utf8')).toBe(
      'disk 0 of web-01, seeded by the Strata lab\n',
    )
    await nav(admin, 'Overview').click() // leaving the page ends the browsing session
    await expect.poll(() => stack.server.context.files.size, WAIT).toBe(0)
  })

  it('browses the restore points: a protected one cannot be deleted, another is deleted', async () => {
    await secondBackup(admin, JOB)
    await browsePoints(stack, admin)
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
