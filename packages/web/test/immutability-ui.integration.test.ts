// Immutable repositories and rollback detection in the UI, in Debian's Chromium against the real
// server: a locked point shows its lock badge and date, the repository its locked points and bytes; a
// point removed behind the server's back turns the repository red in the overview with what vanished,
// until an admin acknowledges it on the repository's page.
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { APIRequestContext, Page } from 'playwright-core'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary } from '@strata/core/testing'
import { ADMIN, logIn, startStack, type Stack } from './stack.js'

requireBinary('chattr')
const CSRF = { 'x-strata-request': '1' }

async function call(request: APIRequestContext, method: 'post' | 'get', path: string, data?: unknown) {
  const response = await request[method](path, { headers: CSRF, ...(data === undefined ? {} : { data }) })
  if (!response.ok()) throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`)
  return (await response.json()) as Record<string, unknown>
}

async function writePoint(repo: Repository, fill: number): Promise<string> {
  const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { vm: { name_label: 'web-01' } } })
  await point.openDisk('xvda', 1024 * 1024).putChunk(0, Buffer.alloc(1024 * 1024, fill))
  const { pointId } = await point.commit({ full: true })
  await new Promise((r) => setTimeout(r, 2))
  return pointId
}

describe('immutability and rollback detection in the UI', { timeout: 120_000 }, () => {
  let stack: Stack
  let admin: Page

  beforeAll(async () => {
    stack = await startStack()
    admin = await stack.newPage()
    await logIn(admin, ADMIN.username, ADMIN.password)
    await admin.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  }, 120_000)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(async () => {
    if (stack !== undefined)
      await promisify(execFile)('chattr', ['-R', '-f', '-i', stack.scratch.dir]).catch(() => undefined)
    await stack?.close()
  })

  it('shows a locked point with its lock badge and date, and the locked points and bytes', async () => {
    const location = stack.scratch.path('locked')
    const immutable = { seconds: 7 * 86_400, mode: 'compliance' } as const
    const repo = await Repository.create(new LocalStore(location), { chunkSize: 1024 * 1024, immutable })
    const pointId = await writePoint(repo, 1)
    const created = await call(admin.request, 'post', '/api/repositories', { name: 'locked', location })
    await admin.goto(`/repositories/${String(created.id)}`)
    const badge = admin.locator(`tr[data-point-id="${pointId}"] [data-locked-until]`)
    await expect.poll(() => badge.count()).toBe(1)
    expect(Number(await badge.getAttribute('data-locked-until'))).toBeGreaterThan(Date.now() + 6 * 86_400_000)
    expect(await badge.textContent()).toMatch(/locked until/)
    // Usage (and what is locked) is measured in the background: the page shows it once measured.
    await expect
      .poll(
        async () => {
          await admin.getByRole('button', { name: 'Refresh' }).click()
          return admin
            .locator('[data-test="locked-usage"]')
            .textContent({ timeout: 500 })
            .catch(() => '')
        },
        { timeout: 30_000 },
      )
      .toMatch(/locked 1 points, 1 chunks, \d+ B/)
  })

  it('turns a repository whose point vanished red in the overview, until an admin acknowledges it', async () => {
    const location = stack.scratch.path('plain')
    const repo = await Repository.create(new LocalStore(location), { chunkSize: 1024 * 1024 })
    const victim = await writePoint(repo, 2)
    await writePoint(repo, 3)
    const created = await call(admin.request, 'post', '/api/repositories', { name: 'plain', location })
    const base = `/api/repositories/${String(created.id)}`
    await call(admin.request, 'get', `${base}/points`)
    // The manifest alone (its point index entry left): listings go by the index, so the point leaves them
    // once the server's walk of the manifests (every minute, here at every listing) has seen it gone.
    stack.server.context.repositoryService.revalidateMs = 0
    await rm(stack.scratch.path('plain', 'points', 'vm-1', victim, 'manifest'))
    await expect
      .poll(async () => JSON.stringify(await call(admin.request, 'get', `${base}/points`)), {
        timeout: 10_000,
      })
      .not.toContain(victim)

    await admin.goto('/')
    const row = admin.locator('table[aria-label="Repository usage"] tr[data-rollback="true"]')
    await row.waitFor()
    expect(await row.getAttribute('class')).toContain('tone-bad')
    expect(await row.getByRole('alert').textContent()).toContain(`vm-1/${victim}`)
    // This package's tests are type-checked without the DOM library: the browser's function, typed here.
    type Styles = { getComputedStyle(e: unknown): { color: string } }
    const color = await row
      .getByRole('alert')
      .evaluate((e) => (globalThis as unknown as Styles).getComputedStyle(e).color)
    expect(color).toBe('rgb(192, 38, 45)') // --bad
    await stack.screenshot(admin, 'overview-rollback-warning')

    await row.getByRole('link', { name: 'plain' }).click()
    const warning = admin.locator('[data-test="rollback-warning"]')
    await warning.waitFor()
    expect(await warning.textContent()).toContain(victim)
    await warning.getByRole('button', { name: 'Acknowledge' }).click()
    await warning.waitFor({ state: 'detached' })
    await admin.goto('/')
    await admin.locator('table[aria-label="Repository usage"] tbody tr').first().waitFor()
    expect(await admin.locator('tr[data-rollback="true"]').count()).toBe(0)
  })
})
