// `PUT /api/repositories/:id/agent {agentId}`: from then on only that agent opens the repository (its
// location is a path or URL as the agent sees it). Before it is assigned, the agent opens it and must find
// the repository the server recorded (REPOSITORY_CONFIG_CHANGED otherwise), so that a typo or another
// repository at that place on the agent is refused rather than written to. `null` gives it back to the
// server, which opens it itself from then on.
import type { FastifyInstance } from 'fastify'
import { RepositoryAgentInput, type RepositoryAgentInput as Body } from '@strata/contract'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import { idParams } from '../routes/schemas.js'
import type { ServerLog } from '../server-log.js'
import type { AgentRepositoryAccess } from './agent-repository-access.js'

export interface AgentRepositoryRouteServices {
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly access: AgentRepositoryAccess
  readonly log: ServerLog
}

export function agentRepositoryRoutes(app: FastifyInstance, ctx: AgentRepositoryRouteServices): void {
  const { repositories, access } = ctx
  app.put<{ Params: { id: string }; Body: Body }>(
    '/api/repositories/:id/agent',
    { schema: { tags: ['agents'], params: idParams, body: RepositoryAgentInput } },
    async (request) => {
      const record = await repositories.get(request.params.id)
      const { agentId } = request.body
      const who = request.user?.username ?? 'a client'
      if (agentId !== null) {
        const input = { ...record, ...(await repositories.secrets(record.id)) }
        const identity = await access.open(
          agentId,
          record.identity === undefined ? input : { ...input, expected: record.identity },
          { create: false },
          AbortSignal.timeout(60_000),
        )
        if (record.identity === undefined) await repositories.recordIdentity(record.id, identity)
      }
      await access.assign(record.id, agentId)
      ctx.repositoryService.forget(record.id)
      const to = agentId === null ? 'the server' : `agent '${(await access.agents.get(agentId)).name}'`
      ctx.log.info(`repository '${record.name}' assigned to ${to} by ${who}`)
      return { repositoryId: record.id, agentId }
    },
  )
}
