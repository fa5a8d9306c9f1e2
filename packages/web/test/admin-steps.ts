// The steps of the end-to-end suite that check what an XO admin looks for (issue "the admin's
// experience"): the restore point browser, a restore confirmed before it starts, pools edited in place,
// run filters and names, coverage, run strips and usage that says "measuring". Each takes the shared
// stack and the admin's page; the ui-*.integration.test.ts files run them in order.
import { rm } from 'node:fs/promises'
import { expect } from 'vitest'
import type { Page } from 'playwright-core'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { LAB_PASSWORD, type Stack } from './stack.js'

const WAIT = { timeout: 30_000 }

export function nav(page: Page, label: string) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true })
}

export async function expectPath(page: Page, path: string): Promise<void> {
  await expect.poll(() => new URL(page.url()).pathname, WAIT).toBe(path)
}

async function json<T>(page: Page, path: string): Promise<T> {
  return (await (await page.request.get(path)).json()) as T
}

/** A fresh repository says "measuring" (or "not measured yet"), never a false 0 B, until measured. */
export async function usageMeasuring(stack: Stack, admin: Page): Promise<void> {
  const usage = admin.locator('tr[data-repository="local"] [data-test="usage"]')
  await usage.waitFor()
  expect(await usage.textContent()).toMatch(/measuring|not measured yet/)
  await stack.screenshot(admin, 'repository-measuring')
  await admin.getByRole('button', { name: 'Refresh' }).click()
  await expect.poll(() => usage.textContent(), WAIT).toMatch(/\d+ B/)
}

/** A short passphrase is refused until "use it anyway"; a re-created repository is accepted knowingly. */
export async function repositoryChoices(stack: Stack, admin: Page): Promise<void> {
  await admin.getByLabel('Name').fill('short')
  await admin.getByLabel(/^Path/).fill(stack.scratch.path('short'))
  await admin.locator('input[name=encrypted]').check()
  await admin.locator('input[name=passphrase]').fill('tiny')
  await admin.getByRole('button', { name: 'Add repository' }).click()
  await expect.poll(() => admin.getByRole('alert').textContent(), WAIT).toContain('WEAK_PASSPHRASE')
  await admin.locator('input[name=force]').check()
  await admin.getByRole('button', { name: 'Add repository' }).click()
  await admin.locator('tr[data-repository="short"]').waitFor()

  await admin.getByLabel('Name').fill('spare')
  await admin.getByLabel(/^Path/).fill(stack.scratch.path('spare'))
  await admin.getByRole('button', { name: 'Add repository' }).click()
  await admin.locator('tr[data-repository="spare"]').waitFor()
  // Someone re-creates it behind the server's back: another repository at the same place. The server
  // may still be writing in it (its first listing and measure), so the removal retries on ENOTEMPTY.
  await rm(stack.scratch.path('spare'), { recursive: true, maxRetries: 10, retryDelay: 100 })
  await Repository.create(new LocalStore(stack.scratch.path('spare')))
  await admin.locator('tr[data-repository="spare"]').getByRole('link', { name: 'spare' }).click()
  const changed = admin.locator('[data-test="config-changed"]')
  await changed.waitFor()
  await stack.screenshot(admin, 'repository-config-changed')
  admin.once('dialog', (dialog) => void dialog.accept())
  await changed.getByRole('button', { name: 'Accept the repository as it is now' }).click()
  await expect.poll(() => changed.count(), WAIT).toBe(0)
  await admin.getByText('No restore point.').waitFor()
  await nav(admin, 'Repositories').click()
}

/** The restore page asks before it starts, naming the VM, the point, the target and the new VM. */
export async function confirmRestore(stack: Stack, admin: Page, tag: string): Promise<void> {
  const runs = async () => (await json<unknown[]>(admin, '/api/runs?limit=1000')).length
  const before = await runs()
  await admin.getByRole('button', { name: 'Restore the VM' }).click()
  const dialog = admin.getByRole('dialog', { name: 'Restore this VM?' })
  await dialog.waitFor()
  expect(await dialog.locator('[data-test="plan-vm"]').textContent()).toBe('web-01')
  expect(await dialog.locator('[data-test="plan-target"]').textContent()).toMatch(/pool lab, SR \S/)
  expect(await dialog.locator('[data-test="plan-name"]').textContent()).toMatch(
    /^web-01 \(restored \d{4}-\d\d-\d\d \d\d:\d\d\)$/,
  )
  expect(await dialog.locator('[data-test="plan-tag"]').textContent()).toBe(tag)
  await stack.screenshot(admin, 'restore-confirm')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  expect(await dialog.count()).toBe(0)
  expect(await runs()).toBe(before) // nothing started
  await admin.getByRole('button', { name: 'Restore the VM' }).click()
  await dialog.getByRole('button', { name: 'Start the restore' }).click()
}

/** The tag restored VMs get, set in the settings. */
export async function setRestoreTag(admin: Page, tag: string): Promise<void> {
  await nav(admin, 'Settings').click()
  await admin.locator('input[name=restoreTag]').fill(tag)
  await admin.getByRole('button', { name: 'Save the tag' }).click()
  await admin.getByText('The tag of restored VMs is saved.').waitFor()
  await admin.reload()
  await expect.poll(() => admin.locator('input[name=restoreTag]').inputValue(), WAIT).toBe(tag)
}

/** Waits for a second backup of the job, so that the browser has two points of web-01. */
export async function secondBackup(admin: Page, job: string): Promise<void> {
  const jobs = await json<{ id: string; name: string }[]>(admin, '/api/jobs')
  const id = jobs.find((j) => j.name === job)!.id
  const started = await admin.request.post(`/api/jobs/${id}/run`, {
    data: {},
    headers: { 'x-strata-request': '1' },
  })
  const { runId } = (await started.json()) as { runId: string }
  await expect
    .poll(
      async () =>
        (await json<{ runId: string; status: string }[]>(admin, '/api/runs')).find((r) => r.runId === runId)
          ?.status,
      {
        timeout: 120_000,
        interval: 1000,
      },
    )
    .toBe('success')
}

/** The point browser: protect one point and see its delete refused, delete another and see it gone. */
export async function browsePoints(stack: Stack, admin: Page): Promise<void> {
  await nav(admin, 'Repositories').click()
  await admin.locator('tr[data-repository="local"]').getByRole('link', { name: 'local' }).click()
  const rows = admin.locator('tr[data-point-id][data-vm="web-01"]')
  await expect.poll(() => rows.count(), WAIT).toBe(2)
  const [newest, oldest] = [rows.nth(0), rows.nth(1)]
  const kept = (await oldest.getAttribute('data-point-id'))!
  const doomed = (await newest.getAttribute('data-point-id'))!
  expect(await newest.textContent()).toMatch(/delta|full/)
  expect(await newest.textContent()).toContain('Smart prod')
  const row = (id: string) => admin.locator(`tr[data-point-id="${id}"]`)

  await row(kept).getByRole('button', { name: 'Protect' }).click()
  await expect.poll(() => row(kept).getAttribute('data-protected'), WAIT).toBe('true')
  await row(kept).getByRole('button', { name: 'Delete' }).click()
  await admin.getByRole('dialog').getByRole('button', { name: 'Delete the point' }).click()
  await expect.poll(() => admin.getByRole('alert').textContent(), WAIT).toContain('POINT_PROTECTED')
  expect(await row(kept).count()).toBe(1)
  await stack.screenshot(admin, 'points-protected-refused')

  await row(doomed).getByRole('button', { name: 'Delete' }).click()
  const dialog = admin.getByRole('dialog', { name: 'Delete this restore point?' })
  expect(await dialog.textContent()).toContain('web-01')
  await dialog.getByRole('button', { name: 'Delete the point' }).click()
  await expect.poll(() => row(doomed).count(), WAIT).toBe(0)
  await admin.reload()
  await row(kept).waitFor()
  expect(await row(doomed).count()).toBe(0)
  await stack.screenshot(admin, 'points')

  // Restore from here: the restore page opens with this point chosen.
  await row(kept).getByRole('link', { name: 'Restore' }).click()
  await expectPath(admin, '/restore')
  await expect.poll(() => admin.locator(`[data-point="${kept}"] input`).isChecked(), WAIT).toBe(true)
  // Unprotected again, so that the job's retention may take it later.
  await admin.goBack()
  await row(kept).getByRole('button', { name: 'Unprotect' }).click()
  await expect.poll(() => row(kept).getAttribute('data-protected'), WAIT).toBe('false')
}

/** A pool's password edited: a wrong one shows why the pool is down, the right one connects it again. */
export async function editPoolPassword(stack: Stack, admin: Page, job: string): Promise<void> {
  await nav(admin, 'Pools').click()
  const row = admin.locator('tr[data-pool="lab"]')
  await row.getByText('connected', { exact: true }).waitFor(WAIT)
  const edit = async (password: string) => {
    await row.getByRole('button', { name: 'Edit lab' }).click()
    const form = admin.getByRole('form', { name: 'Edit pool lab' })
    await form.locator('input[name=edit-pool-password]').fill(password)
    await form.getByRole('button', { name: 'Save pool' }).click()
    await expect.poll(() => form.count(), WAIT).toBe(0)
  }
  await edit('not-the-lab-password')
  const why = row.locator('[data-test="pool-error"]')
  await expect.poll(() => why.textContent(), WAIT).toMatch(/Authentication failure/)
  expect(await why.textContent()).toMatch(/next attempt in/)
  await row.getByText('disconnected', { exact: true }).waitFor()
  await stack.screenshot(admin, 'pool-wrong-password')
  await runWithPoolDown(stack, admin, job)
  await nav(admin, 'Pools').click()
  await edit(LAB_PASSWORD)
  await row.getByText('connected', { exact: true }).waitFor(WAIT)
  expect(await why.count()).toBe(0)
}

/** A run whose pool refuses its login fails (red, never a grey "skipped"), naming the pool and why. */
async function runWithPoolDown(stack: Stack, admin: Page, job: string): Promise<void> {
  await nav(admin, 'Jobs').click()
  await admin.getByRole('button', { name: `Run ${job} now` }).click()
  await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
  const status = admin.locator('[data-test="run-status"]')
  await expect.poll(() => status.getAttribute('data-status'), { timeout: 120_000 }).toMatch(/failure|skipped/)
  expect(await status.getAttribute('data-status')).toBe('failure')
  const why = (await admin.locator('[data-test="failure-reasons"]').textContent()) ?? ''
  expect(why).toContain('lab')
  expect(why).toMatch(/Authentication failure/)
  // Names, not the server's ids, in the task tree too.
  const ids = [
    ...(await json<{ id: string }[]>(admin, '/api/pools')),
    ...(await json<{ id: string }[]>(admin, '/api/repositories')),
  ]
  const tree = (await admin.locator('[data-test="task-tree"]').textContent()) ?? ''
  expect(tree).toContain('pool: lab')
  for (const { id } of ids) expect(tree).not.toContain(id)
  await stack.screenshot(admin, 'run-pool-down')
  const runId = decodeURIComponent(new URL(admin.url()).pathname.slice('/logs/'.length))
  await nav(admin, 'Logs').click()
  const row = admin.locator(`tbody tr[data-run="${runId}"]`)
  await expect.poll(() => row.getAttribute('class'), WAIT).toContain('tone-bad')
}

/** The pools page: each VM's last backup, and the VMs no job covers. */
export async function coverage(stack: Stack, admin: Page): Promise<void> {
  await nav(admin, 'Pools').click()
  const web = admin.locator('tr[data-coverage-vm="web-01"]')
  await expect.poll(() => web.getAttribute('data-covered'), WAIT).toBe('true')
  expect(await web.textContent()).toContain('Smart prod')
  expect(await web.locator('[data-test="last-backup"] .badge').getAttribute('data-status')).toBe('success')
  // Halted, while the job takes running VMs only.
  const db = admin.locator('tr[data-coverage-vm="db-01"]')
  expect(await db.getAttribute('data-covered')).toBe('false')
  expect(await db.textContent()).toContain('not covered')
  expect(await admin.locator('[data-test="uncovered-count"]').textContent()).toMatch(/not covered/)
  await stack.screenshot(admin, 'pools-coverage')
}

/** The jobs page: the last runs as a strip of links, and the schedule in words beside its cron. */
export async function jobStrip(stack: Stack, admin: Page, job: string): Promise<void> {
  await nav(admin, 'Jobs').click()
  const row = admin.locator(`tr[data-job="${job}"]`)
  const strip = row.locator('[data-test="run-strip"] a')
  await expect.poll(() => strip.count(), WAIT).toBeGreaterThanOrEqual(3)
  const statuses = await strip.evaluateAll((links) => links.map((a) => a.getAttribute('data-status')))
  expect(statuses).toContain('failure')
  expect(statuses).toContain('success')
  expect(await row.locator('[data-test="schedule-words"]').first().textContent()).toBe(
    'every day at 02:00 UTC',
  )
  await stack.screenshot(admin, 'jobs-strip')
  await strip.last().click()
  await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
}

/** The logs: names instead of ids, filters by job, state and date kept in the URL, the report copied. */
export async function runFilters(stack: Stack, admin: Page, job: string): Promise<void> {
  await nav(admin, 'Logs').click()
  const rows = admin.locator('tbody tr')
  await rows.first().waitFor()
  expect(await admin.locator('tbody tr.tone-ok [data-test="run-vms"]').first().textContent()).toContain(
    'web-01',
  )
  await admin.locator('select[name=job]').selectOption({ label: job })
  await admin.locator('select[name=status]').selectOption('success')
  await expect.poll(() => new URL(admin.url()).search, WAIT).toMatch(/job=.*state=success/)
  await expect.poll(() => admin.locator('tbody tr:not(.tone-ok)').count(), WAIT).toBe(0)
  expect(await rows.count()).toBeGreaterThan(0)
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
  await admin.locator('input[name=since]').fill(tomorrow)
  await admin.getByText('No runs match the filter.').waitFor()
  await admin.locator('input[name=since]').fill(new Date().toISOString().slice(0, 10))
  await expect.poll(() => rows.count(), WAIT).toBeGreaterThan(0)
  await stack.screenshot(admin, 'logs-filtered')
  // The same filter from the URL, as a link or a reload gives it.
  await admin.reload()
  await expect.poll(() => admin.locator('select[name=status]').inputValue(), WAIT).toBe('success')
  await rows.first().getByRole('link').first().click()
  const facts = admin.locator('[data-test="run-points"]')
  await facts.waitFor()
  expect(await admin.locator('[data-test="run-pools"]').textContent()).toBe('lab')
  expect(await admin.locator('[data-test="run-repositories"]').textContent()).toBe('local')
  await admin.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url })
  await admin.getByRole('button', { name: 'Copy the report' }).click()
  await admin.getByText('Report copied.').waitFor()
  const copied = String(await admin.evaluate('navigator.clipboard.readText()'))
  expect(copied).toContain(job)
  expect(copied).toMatch(/success/)
  await stack.screenshot(admin, 'run-facts')
  await facts.getByRole('link').first().click()
  await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/repositories\/.+/)
}

/** A restore run, named after its VM: each disk's size, what was written and the zeros skipped, apart. */
export async function restoreFacts(stack: Stack, admin: Page): Promise<void> {
  await admin.locator('.restore-started').getByRole('link', { name: 'follow it in the logs' }).click()
  await expect.poll(() => new URL(admin.url()).pathname, WAIT).toMatch(/^\/logs\/.+/)
  const tree = admin.locator('[data-test="task-tree"]')
  const zeros = tree.locator('[data-fact="zeroBytes"]').first()
  await expect.poll(() => zeros.textContent(), WAIT).toMatch(/^zeros skipped \d/)
  const line = zeros.locator('xpath=..')
  expect(await line.locator('[data-fact="size"]').textContent()).toMatch(/^size \d/)
  expect(await line.locator('[data-fact="dataBytes"]').textContent()).toMatch(/^data written \d/)
  expect(await tree.textContent()).not.toMatch(/zeroBytes|dataBytes/)
  expect(await admin.getByRole('heading', { level: 1 }).textContent()).toMatch(/^restore of web-01 /)
  await stack.screenshot(admin, 'restore-facts')
  await admin.goBack()
}

/**
 * A job written through the API with settings off their defaults (as the CLI or a job file would) shows
 * them in the editor as stored, and saving it from the editor keeps them.
 */
export async function editorAsStored(admin: Page, job: string): Promise<void> {
  type Settings = { preferNbd: boolean; fullInterval: number; nbdConnections: number }
  const stored = async () =>
    (await json<{ id: string; name: string; settings: Settings }[]>(admin, '/api/jobs')).find(
      (j) => j.name === job,
    )!
  const before = await stored()
  const settings = {
    preferNbd: !before.settings.preferNbd,
    fullInterval: before.settings.fullInterval + 7,
    nbdConnections: before.settings.nbdConnections === 3 ? 2 : 3,
  }
  const patch = (data: unknown) =>
    admin.request.patch(`/api/jobs/${before.id}`, { data, headers: { 'x-strata-request': '1' } })
  expect((await patch({ settings: { ...before.settings, ...settings } })).status()).toBe(200)
  await nav(admin, 'Jobs').click()
  await admin.getByRole('link', { name: job, exact: true }).click()
  await admin.locator('details > summary', { hasText: 'Advanced settings' }).click()
  const nbd = admin.locator('input[name="preferNbd"]')
  await expect.poll(() => nbd.isChecked(), WAIT).toBe(settings.preferNbd)
  expect(await admin.locator('input[name="fullInterval"]').inputValue()).toBe(String(settings.fullInterval))
  expect(await admin.locator('input[name="nbdConnections"]').inputValue()).toBe(
    String(settings.nbdConnections),
  )
  await admin.getByRole('button', { name: 'Save job' }).click()
  await expectPath(admin, '/jobs')
  expect((await stored()).settings).toMatchObject(settings)
  expect((await patch({ settings: before.settings })).status()).toBe(200)
}

/**
 * A job of VMs chosen by hand shows them as stored: by uuid or by name (as job files name them), and a
 * VM on no connected pool still listed, to keep or to drop, never silently left out.
 */
export async function handPickedAsStored(admin: Page): Promise<void> {
  const headers = { 'x-strata-request': '1' }
  const found = await admin.request.post('/api/jobs/preview', { data: { vms: { smart: {} } }, headers })
  const web = ((await found.json()) as { uuid: string; name: string }[]).find((v) => v.name === 'web-01')!
  const gone = '00000000-0000-4000-8000-00000000dead'
  const [repository] = await json<{ id: string }[]>(admin, '/api/repositories')
  const data = {
    name: 'Hand picked',
    vms: { uuids: [web.uuid, 'db-01', gone] },
    repositories: [repository!.id],
  }
  const created = await admin.request.post('/api/jobs', { data, headers })
  expect(created.status()).toBe(201)
  const { id } = (await created.json()) as { id: string }
  try {
    await nav(admin, 'Jobs').click()
    await admin.reload() // the list as the server has it now
    await admin.getByRole('link', { name: 'Hand picked', exact: true }).click()
    const picked = (name: string) => admin.getByRole('checkbox', { name: `Back up ${name}`, exact: true })
    await expect.poll(() => picked('web-01').isChecked(), WAIT).toBe(true)
    expect(await picked('db-01').isChecked()).toBe(true)
    const missing = admin.locator(`[data-missing-vm="${gone}"]`)
    expect(await missing.textContent()).toMatch(/not on a connected pool/)
    expect(await picked(gone).isChecked()).toBe(true)
    await picked(gone).click() // dropped: its row goes
    await expect.poll(() => missing.count(), WAIT).toBe(0)
    await admin.getByRole('button', { name: 'Save job' }).click()
    await expectPath(admin, '/jobs')
    // Listed by the VMs' names.
    const row = admin.locator('tr[data-job="Hand picked"]')
    await expect.poll(() => row.textContent(), WAIT).toContain('web-01, db-01')
    const stored = await json<{ vms: { uuids: string[] } }>(admin, `/api/jobs/${id}`)
    expect(stored.vms.uuids).toEqual([web.uuid, 'db-01'])
  } finally {
    expect((await admin.request.delete(`/api/jobs/${id}`, { headers })).status()).toBe(204)
  }
}
