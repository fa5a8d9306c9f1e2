// The differential restore in the UI, in Debian's Chromium against the real server and a lab pool: a
// backup of the halted VM db-01, guest writes, then the restore view offers "only rewrite what changed"
// onto db-01 itself (and says why not while it runs); confirmed, the run rewrites db-01's disk in place,
// creating no VM, and the disk equals the point again.
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { APIResponse, Page } from 'playwright-core'
import { XapiClient } from '@strata/core/xapi'
import { ADMIN, LAB_PASSWORD, logIn, startStack, type Stack } from './stack.js'

const STEP = 150_000
const WAIT = { timeout: 30_000 }
const MiB = 1024 * 1024

describe('differential restore in the web UI', { timeout: STEP }, () => {
  let stack: Stack
  let admin: Page

  const post = async (path: string, data: unknown): Promise<APIResponse> => {
    const response = await admin.request.post(path, { data, headers: { 'x-strata-request': '1' } })
    expect(response.ok(), `${path}: ${await response.text()}`).toBe(true)
    return response
  }
  const get = async <T>(path: string): Promise<T> => (await (await admin.request.get(path)).json()) as T
  const ended = async (runId: string): Promise<{ status: string }> => {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
      const run = (await get<{ runId: string; status: string }[]>('/api/runs?limit=1000')).find(
        (r) => r.runId === runId,
      )
      if (run !== undefined && run.status !== 'pending') return run
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`run ${runId} did not end`)
  }
  const choosePoint = async (): Promise<void> => {
    await admin.goto('/restore') // afresh: the offer is asked of the server once a point and a pool are chosen
    await admin.locator('select[name=restore-repository]').selectOption({ label: 'local' })
    await admin.locator('select[name=restore-vm]').selectOption({ label: 'db-01 (1 point)' })
    await admin.locator('[data-point]').first().waitFor()
    await admin.locator('select[name=restore-pool]').selectOption({ label: 'lab' })
  }

  beforeAll(async () => {
    stack = await startStack()
    admin = await stack.newPage()
    await logIn(admin, ADMIN.username, ADMIN.password)
    await admin.waitForURL((url) => url.pathname === '/')
    const pool = { name: 'lab', url: stack.lab.url, username: 'root', password: LAB_PASSWORD }
    const poolId = (
      (await (await post('/api/pools', { ...pool, fingerprint: stack.lab.fingerprint })).json()) as {
        id: string
      }
    ).id
    for (let i = 0; i < 300 && !(await get<{ connected: boolean }>(`/api/pools/${poolId}`)).connected; i++)
      await new Promise((r) => setTimeout(r, 100))
    const repository = { name: 'local', location: stack.scratch.path('repo'), init: true }
    const repositoryId = ((await (await post('/api/repositories', repository)).json()) as { id: string }).id
    const job = {
      name: 'db',
      vms: { smart: { pools: [poolId], powerState: 'Halted' } },
      repositories: [repositoryId],
    }
    const jobId = ((await (await post('/api/jobs', job)).json()) as { id: string }).id
    const { runId } = (await (await post(`/api/jobs/${jobId}/run`, {})).json()) as { runId: string }
    expect((await ended(runId)).status).toBe('success')
  }, 240_000)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(() => stack?.close(), STEP)

  it('says why it cannot rewrite db-01 in place while it runs', async () => {
    const xapi = new XapiClient(stack.lab.connection)
    const vm = stack.lab.ref('VM', 'db-01')
    await xapi.call('VM.start', [vm, false, false])
    try {
      await choosePoint()
      const why = admin.locator('[data-test="differential-why-not"]')
      await expect.poll(() => why.textContent(), WAIT).toMatch(/not possible: VM 'db-01' .* is Running/)
      expect(await admin.locator('input[name=restore-differential]').count()).toBe(0)
    } finally {
      await xapi.call('VM.hard_shutdown', [vm])
      await xapi.close()
    }
  })

  it('offers "only rewrite what changed" for the halted db-01, and rewrites its disk in place', async () => {
    const vm = stack.lab.ref('VM', 'db-01')
    const [disk] = stack.lab.guest.disks(vm)
    const before = await stack.lab.readDisk(disk!)
    await stack.lab.guest.write(disk!, 7 * MiB + 333, randomBytes(200_000))
    const vms = stack.lab.vmNames().length
    await choosePoint()
    const offer = admin.locator('input[name=restore-differential]')
    await offer.waitFor(WAIT)
    expect(await admin.locator('label:has(input[name=restore-differential])').textContent()).toMatch(
      /Onto db-01 itself: only rewrite what changed/,
    )
    await offer.check()
    // Onto the VM itself: no SR to choose, nothing to start.
    expect(await admin.locator('input[name=restore-start]').count()).toBe(0)
    expect(await admin.locator('select[name=restore-sr]').count()).toBe(0)
    await stack.screenshot(admin, 'restore-differential')
    await admin.getByRole('button', { name: 'Restore onto the VM' }).click()
    const dialog = admin.getByRole('dialog', { name: "Rewrite the VM's disks?" })
    await dialog.waitFor()
    expect(await dialog.locator('[data-test="plan-target"]').textContent()).toMatch(
      /VM db-01 itself \(pool lab\): only the blocks that differ from the point are rewritten/,
    )
    expect(await dialog.locator('[data-test="plan-name"]').count()).toBe(0)
    await dialog.getByRole('button', { name: 'Start the restore' }).click()
    await admin.locator('.restore-started .badge[data-status="success"]').waitFor({ timeout: 120_000 })
    await stack.screenshot(admin, 'restore-differential-done')

    expect(stack.lab.vmNames().length).toBe(vms) // no VM created
    expect((await stack.lab.readDisk(disk!)).equals(before)).toBe(true)
    await admin.locator('.restore-started a').click()
    const tree = admin.locator('[data-test="task-tree"]')
    const fact = (key: string) => tree.locator(`[data-fact="${key}"]`).first().textContent()
    await expect.poll(() => fact('comparedBytes'), WAIT).toBe('compared 48.0 MiB')
    expect(await fact('readBytes')).toBe('read to compare 0 B') // found by CBT
    expect(await fact('rewrittenBytes')).toBe('rewritten 2.00 MiB')
  })
})
