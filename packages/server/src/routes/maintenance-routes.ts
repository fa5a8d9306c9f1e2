// A repository's maintenance: its schedule (read, replace) and a task run now. Runs are listed with the
// others (/api/runs, kind 'maintenance').
import type { FastifyInstance } from 'fastify'
import { MaintenanceSchedule, MaintenanceTaskParams, type MaintenanceTask } from '@strata/contract'
import type { MaintenanceRunner } from '../maintenance/maintenance-runner.js'
import type { MaintenanceStore } from '../maintenance/maintenance-store.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import { idParams } from './schemas.js'

/** What the maintenance routes are given. */
export interface MaintenanceRouteServices {
  readonly repositories: RepositoryStore
  readonly maintenance: MaintenanceRunner
  readonly maintenanceStore: MaintenanceStore
}

export function maintenanceRoutes(app: FastifyInstance, ctx: MaintenanceRouteServices): void {
  const { repositories, maintenance, maintenanceStore: store } = ctx
  const schema = { tags: ['repositories'], params: idParams }

  app.get<{ Params: { id: string } }>('/api/repositories/:id/maintenance', { schema }, async (request) =>
    store.schedule((await repositories.get(request.params.id)).id),
  )

  app.put<{ Params: { id: string }; Body: MaintenanceSchedule }>(
    '/api/repositories/:id/maintenance',
    { schema: { ...schema, body: MaintenanceSchedule } },
    async (request) => {
      const { id } = await repositories.get(request.params.id)
      await store.setSchedule(id, request.body)
      return store.schedule(id)
    },
  )

  app.post<{ Params: { id: string; task: MaintenanceTask } }>(
    '/api/repositories/:id/maintenance/:task/run',
    { schema: { tags: ['repositories'], params: MaintenanceTaskParams } },
    async (request, reply) => {
      const runId = await maintenance.start(request.params.id, request.params.task)
      return reply.code(202).send({ runId })
    },
  )
}
