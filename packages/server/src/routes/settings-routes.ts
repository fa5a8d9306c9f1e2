// Settings (admin changes them) and the overview the UI's first page shows.
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { SettingsPatch } from '@strata/contract'

export function settingsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/api/settings', { schema: { tags: ['settings'] } }, async () => {
    const clock = ctx.connections.clock()
    return clock === undefined ? ctx.settings.view() : { ...ctx.settings.view(), clock }
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
      if (request.body.syslog !== undefined) ctx.settings.setSyslog(request.body.syslog)
      if (request.body.restoreTag !== undefined) ctx.settings.setRestoreTag(request.body.restoreTag)
      ctx.log.info(`settings changed by ${request.user?.username}`)
      return ctx.settings.view()
    },
  )

  app.get('/api/overview', { schema: { tags: ['settings'] } }, async () => {
    const lastRuns = ctx.runs.list({ limit: 20 })
    const failures = ctx.jobs
      .list()
      .map((job) => ctx.runs.list({ jobId: job.id, limit: 1 })[0])
      .filter((run) => run !== undefined && (run.status === 'failure' || run.status === 'interrupted'))
    return {
      lastRuns,
      nextRuns: ctx.scheduler.nextRuns().slice(0, 20),
      repositories: ctx.repositories.list().map((r) => {
        return { id: r.id, name: r.name, ...ctx.repositoryService.usageState(r.id) }
      }),
      failures,
    }
  })
}
