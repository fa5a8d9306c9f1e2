// Settings (admin changes them) and the overview the UI's first page shows.
import type { FastifyInstance } from 'fastify'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from '../runs/run-manager.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import type { ServerLog } from '../server-log.js'
import type { Settings } from '../settings.js'
import { SettingsPatch } from '@strata/contract'

/** What the settings and overview routes are given. */
export interface SettingsRouteServices {
  readonly settings: Settings
  /** For the clock check against the pools. */
  readonly connections: PoolConnections
  readonly runs: RunManager
  readonly jobs: JobStore
  readonly scheduler: Scheduler
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly log: ServerLog
}

export function settingsRoutes(app: FastifyInstance, ctx: SettingsRouteServices): void {
  app.get('/api/settings', { schema: { tags: ['settings'] } }, async () => {
    const clock = ctx.connections.clock()
    return clock === undefined ? await ctx.settings.view() : { ...(await ctx.settings.view()), clock }
  })

  app.patch<{ Body: SettingsPatch }>(
    '/api/settings',
    {
      schema: {
        tags: ['settings'],
        body: SettingsPatch,
      },
    },
    async (request) => {
      if (request.body.syslog !== undefined) await ctx.settings.setSyslog(request.body.syslog)
      if (request.body.restoreTag !== undefined) await ctx.settings.setRestoreTag(request.body.restoreTag)
      ctx.log.info(`settings changed by ${request.user?.username}`)
      return ctx.settings.view()
    },
  )

  app.get('/api/overview', { schema: { tags: ['settings'] } }, async () => {
    const lastRuns = await ctx.runs.list({ limit: 20 })
    const jobs = await ctx.jobs.list()
    const failures = (
      await Promise.all(jobs.map(async (job) => (await ctx.runs.list({ jobId: job.id, limit: 1 }))[0]))
    ).filter((run) => run !== undefined && (run.status === 'failure' || run.status === 'interrupted'))
    return {
      lastRuns,
      nextRuns: ctx.scheduler.nextRuns().slice(0, 20),
      repositories: await Promise.all(
        (await ctx.repositories.list()).map(async (r) => {
          const rollback = await ctx.repositoryService.rollback?.warning(r.id)
          return {
            id: r.id,
            name: r.name,
            ...ctx.repositoryService.usageState(r.id),
            ...(rollback && { rollback }),
          }
        }),
      ),
      failures,
    }
  })
}
