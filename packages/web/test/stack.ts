// The whole product for the UI's end-to-end tests: a lab pool, the real server (its API, database,
// scheduler and workers) serving a fresh build of the UI, and Debian's Chromium driven by playwright-core.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { startServer, type RunningServer } from '@strata/server'
import { chromium, type Browser, type Page } from 'playwright-core'
import { inject } from 'vitest'
import { buildUi } from './build-ui.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's build of the UI (vitest.global-setup.ts). */
    webUi?: string
  }
}

/** Screenshots of a run, kept as artifacts (gitignored). */
export const artifactsDir = fileURLToPath(new URL('../../../.strata/artifacts/web', import.meta.url))

export const ADMIN = { username: 'admin', password: 'admin-e2e-password' }
export const LAB_PASSWORD = 'lab-e2e-password'

export interface Stack {
  readonly lab: LabPool
  readonly server: RunningServer
  readonly browser: Browser
  readonly scratch: Scratch
  readonly url: string
  newPage(viewport?: { width: number; height: number }): Promise<Page>
  screenshot(page: Page, name: string): Promise<void>
  close(): Promise<void>
}

/** `tls`: the server serves HTTPS with its own certificate (agents need it); the browser accepts it. */
export async function startStack(options: { tls?: boolean } = {}): Promise<Stack> {
  const executablePath = requireBinary('chromium')
  const scratch = await scratchDir('strata-web-e2e-')
  // The run's build, shared by its files; a run without the global setup builds its own.
  let webDir = inject('webUi')
  if (webDir === undefined) await buildUi((webDir = scratch.path('ui')))
  // Slow disks keep a backup running for a few seconds, so that the test sees it live.
  const lab = await LabPool.start({ password: LAB_PASSWORD, diskMBps: 1, authFailureDelayMs: 200 })
  const server = await startServer({
    dataDir: scratch.path('server'),
    port: 0,
    adminPassword: ADMIN.password,
    webDir,
    ...(options.tls === true ? { tls: 'self-signed' as const, host: '127.0.0.1' } : {}),
    env: {},
    echo: () => {},
  })
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  await mkdir(artifactsDir, { recursive: true })
  return {
    lab,
    server,
    browser,
    scratch,
    url: server.url,
    async newPage(viewport = { width: 1280, height: 860 }) {
      // A context per page: its own cookies, like another browser.
      const context = await browser.newContext({
        viewport,
        baseURL: server.url,
        ...(options.tls === true ? { ignoreHTTPSErrors: true } : {}),
      })
      context.setDefaultTimeout(30_000)
      return context.newPage()
    },
    async screenshot(page, name) {
      await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true })
    },
    async close() {
      await browser.close().catch(() => undefined)
      await server.close().catch(() => undefined)
      await lab.close().catch(() => undefined)
      await scratch[Symbol.asyncDispose]()
    },
  }
}

export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/login')
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
}
