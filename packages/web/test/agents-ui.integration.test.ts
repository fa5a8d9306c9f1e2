// Agents in the UI, in Debian's Chromium against the real server over HTTPS: an admin adds an agent
// and is shown, once, the command that starts it (token in the environment, the server's fingerprint);
// the agent connects and the list shows it online with its version; a pool is assigned to it; revoking
// it drops its link at once and removes it from the list. A repository added with "Opened by agent" is
// created by the agent, and listed under it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { runAgent } from '@strata/core/agent'
import { ADMIN, LAB_PASSWORD, logIn, startStack, type Stack } from './stack.js'

const WAIT = { timeout: 30_000 }

describe('agents in the UI', { timeout: 180_000 }, () => {
  let stack: Stack
  let page: Page
  const stop = new AbortController()

  beforeAll(async () => {
    stack = await startStack({ tls: true })
    page = await stack.newPage()
    await logIn(page, ADMIN.username, ADMIN.password)
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
    const pool = await page.request.post('/api/pools', {
      headers: { 'x-strata-request': '1' },
      data: {
        name: 'lab',
        url: stack.lab.url,
        username: 'root',
        password: LAB_PASSWORD,
        fingerprint: stack.lab.fingerprint,
      },
    })
    expect(pool.status()).toBe(201)
  })
  afterAll(async () => {
    stop.abort()
    await stack?.close()
  })

  it('adds an agent, shows it online, assigns it a pool and revokes it', async () => {
    await page.getByRole('link', { name: 'Agents' }).click()
    await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor()
    await page.getByText('No agent yet').waitFor()
    await page.locator('input[name="agent-name"]').fill('site-b')
    await page.getByRole('button', { name: 'Add agent' }).click()
    const command = (await page.getByTestId('agent-command').textContent(WAIT))!
    const token = /STRATA_AGENT_TOKEN='([^']+)'/.exec(command)?.[1]
    expect(token).toMatch(/^strata_agent_/)
    expect(command).toContain(`--server ${stack.url} --fingerprint ${stack.server.tlsFingerprint}`)
    const row = page.locator('tr[data-agent="site-b"]')
    await row.locator('[data-state="offline"]').waitFor(WAIT)
    await stack.screenshot(page, 'agents-created')

    const agent = runAgent({
      serverUrl: stack.url,
      token: token!,
      fingerprint: stack.server.tlsFingerprint!,
      dataDir: stack.scratch.path('agent'),
      version: '0.1.0',
      signal: stop.signal,
      log: () => undefined,
    }).then(
      () => undefined,
      (error: unknown) => error,
    )
    await row.locator('[data-state="online"]').waitFor(WAIT)
    await expect(row.locator('td').nth(2).textContent()).resolves.toBe('0.1.0')

    await page.locator('select[name="assign-pool"]').selectOption({ label: 'lab (this server)' })
    await page.locator('select[name="assign-agent"]').selectOption({ label: 'agent site-b' })
    await page.getByRole('button', { name: 'Assign' }).click()
    await row.locator('td', { hasText: 'lab' }).waitFor(WAIT)
    await stack.screenshot(page, 'agents-online')

    // A repository the agent creates and alone opens, added from the Repositories page.
    await page.getByRole('link', { name: 'Repositories' }).click()
    await page.locator('input[name="repository-name"]').fill('at-b')
    await page.locator('select[name="repository-agent"]').selectOption({ label: 'agent site-b' })
    await page.locator('input[name="repository-location"]').fill(stack.scratch.path('at-b'))
    await page.getByRole('button', { name: 'Add repository' }).click()
    const repoRow = page.locator('tr[data-repository="at-b"]')
    await repoRow.getByTestId('repository-agent').filter({ hasText: 'on agent site-b' }).waitFor(WAIT)
    await page.getByRole('link', { name: 'Agents' }).click()
    await row.getByTestId('agent-repositories').filter({ hasText: 'at-b' }).waitFor(WAIT)

    page.once('dialog', (dialog) => void dialog.accept())
    await row.getByRole('button', { name: 'Revoke' }).click()
    expect(await agent).toMatchObject({ code: 'AGENT_REVOKED' })
    await row.waitFor({ state: 'detached', ...WAIT })
    await page.getByText('No agent yet').waitFor(WAIT)
  })
})
