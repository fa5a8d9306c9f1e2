// What the UI's end-to-end files (ui-*.integration.test.ts) share: a stack per file and the admin's page
// (a screenshot of it when a test fails), the story's names and waits, and the start the files after the
// first day take, made through the API: the lab pool, a local repository and the smart job, run.
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import type { APIRequestContext, Page } from 'playwright-core'
import { ADMIN, LAB_PASSWORD, artifactsDir, logIn, startStack, type Stack } from './stack.js'

export const JOB = 'Smart prod'
/** Each step waits for real backups and restores in the lab. */
export const STEP = 150_000
export const WAIT = { timeout: 30_000 }
/** An appliance for file restore starts in about 20 s, a minute or more under TCG on a busy host. */
export const BOOT = 360_000

export interface Job {
  id: string
  name: string
  settings: { preferNbd: boolean; fullInterval: number }
  schedules: { retention: { keepLast: number } }[]
}

/** Starts a stack for the file's tests and hands it to `ready` with a fresh page for the admin. */
export function useStack(ready: (stack: Stack, admin: Page) => Promise<void> | void): void {
  let stack: Stack | undefined
  let admin: Page | undefined
  beforeAll(async () => {
    stack = await startStack()
    admin = await stack.newPage()
    await ready(stack, admin)
  }, 180_000 + STEP)
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail' && stack !== undefined && admin !== undefined)
      await stack.screenshot(admin, `failed-${task.name.replace(/\W+/g, '-')}`)
  })
  afterAll(async () => {
    await stack?.close()
    console.log(`web UI screenshots: ${artifactsDir}`)
  }, STEP)
}

const CSRF = { 'x-strata-request': '1' }

async function call(request: APIRequestContext, path: string, data?: unknown) {
  const response = await request.post(path, { headers: CSRF, ...(data === undefined ? {} : { data }) })
  if (!response.ok()) throw new Error(`POST ${path}: ${response.status()} ${await response.text()}`)
  return (await response.json()) as Record<string, string>
}

/** Runs the job now; the status it ends with (a hook cannot use expect.poll). */
export async function runJob(admin: Page, jobId: string): Promise<string> {
  const { runId } = await call(admin.request, `/api/jobs/${jobId}/run`)
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const runs = (await (await admin.request.get('/api/runs?limit=50')).json()) as {
      runId: string
      status: string
    }[]
    const run = runs.find((r) => r.runId === runId && r.status !== 'pending')
    if (run !== undefined) return run.status
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`run ${runId} of job ${jobId} did not end in 120 s`)
}

/**
 * The admin logged in, the lab pool and the local repository added and the smart job made as the first
 * day's file does in the UI (tags prod, running VMs, every day at 02:00 UTC keeping 3), then run once.
 */
export async function afterFirstDay(stack: Stack, admin: Page): Promise<{ jobId: string }> {
  await logIn(admin, ADMIN.username, ADMIN.password)
  await admin.getByRole('heading', { level: 1, name: 'Overview' }).waitFor()
  const pool = await call(admin.request, '/api/pools', {
    name: 'lab',
    url: stack.lab.url,
    username: 'root',
    password: LAB_PASSWORD,
    fingerprint: stack.lab.fingerprint,
  })
  const repository = await call(admin.request, '/api/repositories', {
    name: 'local',
    location: stack.scratch.path('repo'),
    init: true,
  })
  const job = await call(admin.request, '/api/jobs', {
    name: JOB,
    vms: { smart: { pools: [pool.id], tags: ['prod'], powerState: 'Running' } },
    repositories: [repository.id],
    schedules: [{ name: 'Daily', cron: '0 2 * * *', timezone: 'UTC', retention: { keepLast: 3 } }],
  })
  expect(await runJob(admin, job.id!)).toBe('success')
  return { jobId: job.id! }
}

/** A run of the job that fails: the lab refuses its snapshots. */
export async function failedRun(stack: Stack, admin: Page, jobId: string): Promise<void> {
  stack.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 5)
  try {
    expect(await runJob(admin, jobId)).toBe('failure')
  } finally {
    stack.lab.faults.clear()
  }
}
