// What `strata server --demo` adds to an empty server: a pool (the lab, pinned to its certificate's
// fingerprint), a local repository (created when absent) and a smart job with an hourly schedule, so that
// the first screen of the UI has something to show. It goes through the same stores and checks as the
// API (no shortcut around validation).
import { checkJobInput, formatProblem } from '@strata/contract'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import type { JobStore } from './jobs/job-store.js'
import type { PoolConnections } from './pools/pool-connections.js'
import type { PoolStore } from './pools/pool-store.js'
import { checkPoolTrust } from './pools/pool-trust-check.js'
import type { RepositoryStore } from './repositories/repository-store.js'
import type { RunManager } from './runs/run-manager.js'
import type { Scheduler } from './scheduler/scheduler.js'

export interface DemoSetup {
  readonly pool: {
    readonly url: string
    readonly username: string
    readonly password: string
    /** The lab's certificate fingerprint: pinned like one an admin accepted. */
    readonly fingerprint: string
  }
  readonly repositoryPath: string
}

/** What the demo setup is given: the server's stores, as the API's routes use them. */
export interface DemoServices {
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  readonly jobs: JobStore
  readonly runs: RunManager
  readonly scheduler: Scheduler
}

export async function setupDemo(ctx: DemoServices, demo: DemoSetup, signal: AbortSignal): Promise<void> {
  if ((await ctx.pools.list()).length > 0) return // configured before: leave it as the user left it
  const pool = await ctx.pools.create({
    name: 'lab',
    ...demo.pool,
    ...(await checkPoolTrust(demo.pool, signal)),
  })
  await ctx.connections.connect(pool, demo.pool.password)
  const store = new LocalStore(demo.repositoryPath)
  if ((await store.stat('config', { signal })) === undefined) await Repository.create(store, { signal })
  const repository = await ctx.repositories.create({ name: 'local', location: demo.repositoryPath })
  const checked = checkJobInput({
    name: 'Demo: web VMs, delta',
    vms: { smart: { pools: [pool.id], tags: ['web'] } },
    repositories: [repository.id],
    settings: { retries: 1 },
    schedules: [{ id: 'hourly', cron: '0 * * * *', timezone: 'UTC', retention: { keepLast: 4 } }],
  })
  if (!checked.ok)
    throw new Error(`the demo job is invalid: ${checked.problems.map(formatProblem).join('; ')}`)
  const job = ctx.jobs.complete(checked.value)
  await ctx.runs.engineJob(job) // the engine's validation, as the API does
  await ctx.jobs.save(job)
  await ctx.scheduler.reload()
}
