// Restores (operator): a VM or a disk onto an SR of a pool, as a run; and a disk as a VHD download.
import type { FastifyInstance } from 'fastify'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { restoreDiskToFile } from '@strata/core/engine'
import { silentTask } from '@strata/core'
import type { AppContext } from '../context.js'
import { startRestore, type RestoreRequest } from '../runs/restore-runner.js'
import { DiskParams, RestoreInput } from '@strata/contract'

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

  // The disk is written to a temporary VHD first (the writer needs to seek for its BAT), then streamed.
  app.get<{ Params: { id: string; pointId: string; n: string } }>(
    '/api/repositories/:id/points/:pointId/disks/:n.vhd',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['restores'],
        params: DiskParams,
      },
    },
    async (request, reply) => {
      const record = ctx.repositories.get(request.params.id)
      const signal = AbortSignal.timeout(6 * 3600_000)
      const repository = await ctx.repositoryService.open(record.id, signal)
      const dir = await mkdtemp(join(tmpdir(), 'strata-vhd-'))
      const path = join(dir, 'disk.vhd')
      try {
        await restoreDiskToFile(silentTask(signal), {
          repository,
          pointId: request.params.pointId,
          disk: Number(request.params.n),
          path,
          format: 'vhd',
        })
      } catch (error) {
        await rm(dir, { recursive: true, force: true })
        throw error
      }
      const stream = createReadStream(path)
      stream.on('close', () => void rm(dir, { recursive: true, force: true }))
      const name = `${request.params.pointId.replace(/[^A-Za-z0-9._-]/g, '_')}-disk${request.params.n}.vhd`
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(stream)
    },
  )
}
