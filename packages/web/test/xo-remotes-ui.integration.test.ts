// The XO remotes view end to end, in Debian's Chromium against the real server: an admin adds an XO
// remote built by the test from the format description, browses its VMs and points (each labelled XO,
// an unusable one with its reason), downloads a disk byte-identical, imports the remote into a
// repository with a live progress bar and the report, and finds the remote's points next to Strata's
// on the restore page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { buildScenario, dirSink, VM, type Scenario } from '@strata/core/xo/testing'
import { ADMIN, logIn, startStack, type Stack } from './stack.js'

const WAIT = { timeout: 60_000 }
const CSRF = { 'x-strata-request': '1' }

describe('XO remotes in the UI', { timeout: 300_000 }, () => {
  let stack: Stack
  let admin: Page
  let scenario: Scenario

  beforeAll(async () => {
    stack = await startStack()
    scenario = await buildScenario(dirSink(stack.scratch.path('xo')))
    admin = await stack.newPage()
    await logIn(admin, ADMIN.username, ADMIN.password)
    await admin.waitForURL((url) => url.pathname === '/')
    const repo = await admin.request.post('/api/repositories', {
      headers: CSRF,
      data: { name: 'imported', location: stack.scratch.path('repo'), init: true },
    })
    expect(repo.status()).toBe(201)
  }, 300_000)
  afterAll(async () => {
    await stack?.close()
  })

  it('adds an XO remote and browses its VMs and points, labelled XO, an unusable one with its reason', async () => {
    await admin.goto('/xo-remotes')
    await admin.getByLabel('Name').fill('old xo')
    await admin.getByLabel('Location').fill(stack.scratch.path('xo'))
    await admin.getByRole('button', { name: 'Add XO remote' }).click()
    const remote = admin.locator('[data-xo-remote="old xo"]')
    await remote.waitFor(WAIT)
    await remote.getByRole('button', { name: 'Browse' }).click()
    await admin.locator(`[data-xo-vm="${VM.delta}"]`).click()
    const points = admin.locator('[data-xo-point]')
    await expect.poll(() => points.count(), WAIT).toBe(3)
    await expect.poll(() => points.first().locator('.badge-xo').textContent()).toBe('XO')
    await admin.locator(`[data-xo-vm="${VM.bad}"]`).click()
    const unusable = admin.locator('[data-xo-point][data-usable="false"]').first()
    await unusable.waitFor(WAIT)
    expect(await unusable.textContent()).toMatch(/unusable/i)
    await stack.screenshot(admin, 'xo-remotes-browse')
  })

  it('downloads a disk of a point byte-identical', async () => {
    await admin.locator(`[data-xo-vm="${VM.delta}"]`).click()
    const [id, point] = [...scenario.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
    const row = admin.locator(`[data-xo-point="${id}"]`)
    const link = row.getByRole('link', { name: /disk 0 .*raw/i })
    const href = await link.getAttribute('href')
    expect(href).toMatch(/\/disks\/0\.raw$/)
    const body = await (await admin.request.get(href!)).body()
    expect(body.equals(point.disks[0]!)).toBe(true)
  })

  it('imports the remote into a repository with progress, then shows the report', async () => {
    await admin.getByLabel('Into repository').selectOption({ label: 'imported' })
    await admin.getByRole('button', { name: 'Import' }).click()
    const status = admin.locator('.xo-import')
    await status.getByRole('progressbar').first().waitFor(WAIT)
    await status.locator('[data-status="success"]').waitFor(WAIT)
    const usable = [...scenario.points.values()].filter(
      (p) => p.unusable === undefined && p.failsWith === undefined,
    )
    await expect.poll(() => status.textContent(), WAIT).toContain(`${usable.length} imported`)
    expect(await status.textContent()).toMatch(/skipped/)
    await stack.screenshot(admin, 'xo-remotes-imported')
  })

  it("shows the remote's points next to Strata's on the restore page, labelled XO", async () => {
    await admin.goto('/restore')
    await admin.locator('select[name="restore-repository"]').selectOption({ label: 'imported' })
    await admin.locator('select[name="restore-vm"]').selectOption(VM.delta)
    const aside = admin.locator('.xo-points-aside')
    await aside.waitFor(WAIT)
    await expect.poll(() => aside.locator('[data-xo-point]').count(), WAIT).toBe(3)
    expect(await aside.locator('.badge-xo').first().textContent()).toBe('XO')
  })
})
