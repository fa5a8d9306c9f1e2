// Restores (operator): a VM or a disk onto an SR of a pool, or a VM onto itself rewriting only what
// differs (differential), as a run in a worker process; and a disk as a VHD download (disk-download.ts).
import type { FastifyInstance } from 'fastify'
import type { RestoreRequest, RestoreRunner } from '../runs/restore-runner.js'
import { DifferentialCheck, DifferentialQuery, RestoreInput } from '@strata/contract'
import { diskDownloadRoute, type DiskDownloadServices } from './disk-download.js'

/** What the restore routes are given. */
export interface RestoreRouteServices extends DiskDownloadServices {
  readonly restores: RestoreRunner
}

export function restoreRoutes(app: FastifyInstance, ctx: RestoreRouteServices): void {
  app.post<{ Body: RestoreRequest }>(
    '/api/restores',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['restores'],
        body: RestoreInput,
      },
    },
    async (request, reply) => {
      const runId = await ctx.restores.start(request.body)
      ctx.log.info(`restore ${runId} of ${request.body.pointId} started by ${request.user?.username}`)
      return reply.status(202).send({ runId })
    },
  )

  app.get<{ Querystring: DifferentialQuery }>(
    '/api/restores/differential',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['restores'],
        querystring: DifferentialQuery,
        response: { 200: DifferentialCheck },
      },
    },
    (request) => ctx.restores.differential(request.query),
  )

  diskDownloadRoute(app, ctx)
}
