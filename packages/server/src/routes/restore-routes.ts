// Restores (operator): a VM or a disk onto an SR of a pool, as a run; and a disk as a VHD download
// (disk-download.ts).
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { startRestore, type RestoreRequest } from '../runs/restore-runner.js'
import { RestoreInput } from '@strata/contract'
import { diskDownloadRoute } from './disk-download.js'

export function restoreRoutes(app: FastifyInstance, ctx: AppContext): void {
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
      const runId = await startRestore(ctx, request.body)
      ctx.log.info(`restore ${runId} of ${request.body.pointId} started by ${request.user?.username}`)
      return reply.status(202).send({ runId })
    },
  )

  diskDownloadRoute(app, ctx)
}
