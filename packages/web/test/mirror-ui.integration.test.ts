// Mirror jobs and a repository's history in the UI, end to end in Debian's Chromium against the real
// server: a mirror job made in the job editor (kind, source, target, every VM) copies a lab backup into
// an encrypted repository, its run's tree shows the target's task with the bytes copied, and the target's
// page charts its usage over time (bytes, ratios, points, each with its table) and its last maintenance.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { APIRequestContext, Page } from 'playwright-core'
import { ADMIN, LAB_PASSWORD, logIn, startStack, type Stack } from './stack.js'

const WAIT = { timeout: 30_000 }
const CSRF = { 'x-strata-request': '1' }

async function call(request: APIRequestContext, method: 'post' | 'get', path: string, data?: unknown) {
  const response = await request[method](path, { headers: CSRF, ...(data === undefined ? {} : { data }) })
  if (!response.ok()) throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

/** Waits for the run to end; its status. */
async function ended(request: APIRequestContext, runId: string): Promise<string> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const runs = (await call(request, 'get', '/api/runs?limit=50')) as unknown as {
      runId: string
      status: string
    }[]
    const run = runs.find((r) => r.runId === runId && r.status !== 'pending')
    if (run !== undefined) return run.status
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`run ${runId} did not end`)
}

/** The chart's table alternative: row label to cells. */
async function chartTable(page: Page, title: string): Promise<Map<string, string[]>> {
  const figure = page.locator(`figure[data-chart="${title}"]`)
  if ((await figure.locator('details').getAttribute('open')) === null) await figure.locator('summary').click()
  const rows = figure.locator('tbody tr')
  await rows.first().waitFor()
  const table = new Map<string, string[]>()
  for (const row of await rows.all())
    table.set((await row.locator('th').textContent())!.trim(), await row.locator('td').allTextContents())
  return table
}

describe('mirror jobs and repository history in the UI', { timeout: 300_000 }, () => {
  let stack: Stack
  let admin: Page
  let localId: string
  let offsiteId: string

  beforeAll(async () => {
    stack = await startStack()
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
    const local = await call(r, 'post', '/api/repositories', {
      name: 'local',
      location: stack.scratch.path('local'),
      init: true,
    })
    const offsite = await call(r, 'post', '/api/repositories', {
      name: 'offsite',
      location: stack.scratch.path('offsite'),
      init: true,
      passphrase: 'offsite passphrase of the UI test',
    })
    localId = local.id as string
    offsiteId = offsite.id as string
    const job = await call(r, 'post', '/api/jobs', {
      name: 'Nightly web',
      vms: { smart: { pools: [pool.id], tags: ['prod'], powerState: 'Running' } },
      repositories: [localId],
    })
    const { runId } = await call(r, 'post', `/api/jobs/${String(job.id)}/run`)
    expect(await ended(r, runId as string)).toBe('success')
  }, 240_000)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(() => stack?.close())

  it('makes a mirror job in the editor; its run copies the backup, counted in the tree', async () => {
    await admin.goto('/jobs/new')
    await admin.locator('input[name="name"]').fill('Offsite copy')
    await admin.locator('select[name="kind"]').selectOption('mirror')
    // A mirror has no mode, no pools' VM rules and no health check: its own editor instead.
    expect(await admin.locator('select[name="mode"]').count()).toBe(0)
    await admin.locator('select[name="mirror-source"]').selectOption(localId)
    // The source is not offered as a target.
    expect(await admin.locator('input[name="mirror-to-local"]').count()).toBe(0)
    await admin.getByRole('button', { name: 'Create job' }).click()
    await expect
      .poll(() => admin.locator('[data-test="job-problems"]').textContent(), WAIT)
      .toContain('mirrorTo')
    await admin.locator('input[name="mirror-to-offsite"]').check()
    await admin.getByRole('button', { name: 'Create job' }).click()
    await admin.waitForURL('**/jobs', WAIT)
    const row = admin.locator('tr[data-job="Offsite copy"]')
    await expect.poll(() => row.textContent(), WAIT).toMatch(/local\s*→\s*offsite/)
    expect(await row.textContent()).toContain("every VM's points")

    const jobs = (await call(admin.request, 'get', '/api/jobs')) as unknown as { id: string; name: string }[]
    const mirror = jobs.find((j) => j.name === 'Offsite copy')!
    expect(mirror).toMatchObject({ kind: 'mirror', repositories: [localId], mirrorTo: [offsiteId] })
    const { runId } = await call(admin.request, 'post', `/api/jobs/${mirror.id}/run`)
    expect(await ended(admin.request, runId as string)).toBe('success')
    await admin.goto(`/logs/${String(runId)}`)
    const task = admin.locator('li[data-task="mirror"]').first()
    await task.waitFor(WAIT)
    expect(await task.locator('[data-fact="copiedBytes"]').first().textContent()).toMatch(/copied \d.*B/)
    expect(await task.textContent()).toContain('offsite')
    await stack.screenshot(admin, 'mirror-run')
  })

  it("charts the target's usage over time and shows its last maintenance", async () => {
    const gc = await call(admin.request, 'post', `/api/repositories/${offsiteId}/maintenance/gc/run`)
    expect(await ended(admin.request, gc.runId as string)).toBe('success')
    await stack.server.context.reporting.sampler.sampleAll()
    await admin.goto(`/repositories/${offsiteId}`)
    await admin.getByRole('heading', { name: 'Usage over time' }).waitFor()
    const points = await chartTable(admin, 'offsite: restore points')
    expect([...points.values()].at(-1)).toEqual(['1'])
    const bytes = await chartTable(admin, 'offsite: stored and logical bytes')
    expect([...bytes.values()].at(-1)![1]).toMatch(/\d.*B$/)
    const ratios = await chartTable(admin, 'offsite: deduplication and compression')
    const [dedup, compression] = [...ratios.values()].at(-1)!
    expect(dedup).toMatch(/^\d+\.\d\d×$/)
    expect(compression).toMatch(/^\d+\.\d\d×$/)
    const maintenance = admin.locator('[data-test="last-maintenance"]')
    expect(await maintenance.locator('tr[data-task="gc"]').textContent()).toContain('success')
    expect(await maintenance.locator('tr[data-task="verify"]').textContent()).toContain('not run yet')
    await maintenance.locator('tr[data-task="gc"] a').click()
    await admin.waitForURL(`**/logs/${String(gc.runId)}`, WAIT)
    await stack.screenshot(admin, 'repository-history')
  })
})
