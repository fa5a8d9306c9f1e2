// Agents (docs/agents.md): created, listed and revoked by admins; pools assigned to one; and the link
// an agent opens, a WebSocket that only an agent's token opens (the guard checks it, see auth/guard.ts).
// A pool assigned to an agent is no longer connected from here: the agent reaches it, the server may not.
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import {
  Agent,
  AgentInput,
  NewAgent,
  PoolAgentInput,
  type AgentInput as AgentBody,
  type PoolAgentInput as PoolAgentBody,
} from '@strata/contract'
import { AGENT_CONNECT_PATH, AGENT_DOWNLOAD_PATH, AGENT_MAX_MESSAGE_BYTES } from '@strata/core/agent'
import { ApiError, conflict } from '../errors.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import { idParams } from '../routes/schemas.js'
import type { ServerLog } from '../server-log.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { AgentDownloads } from './agent-downloads.js'
import type { AgentHub } from './agent-hub.js'
import type { AgentRepositoryAccess } from './agent-repository-access.js'
import { agentRepositoryRoutes } from './agent-repository-routes.js'
import type { AgentRecord, AgentStore } from './agent-store.js'

export interface AgentRouteServices {
  readonly agents: AgentStore
  readonly hub: AgentHub
  readonly downloads: AgentDownloads
  readonly pools: PoolStore
  readonly connections: PoolConnections
  /** The server's certificate fingerprint; undefined when it serves plain HTTP (no agent then). */
  readonly fingerprint: string | undefined
  readonly log: ServerLog
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly access: AgentRepositoryAccess
}

export function agentRoutes(app: FastifyInstance, ctx: AgentRouteServices): void {
  const { agents, hub } = ctx
  const view = async (a: AgentRecord): Promise<Agent> => ({
    id: a.id,
    name: a.name,
    state: hub.isOnline(a.id) ? 'online' : 'offline',
    version: a.version,
    lastSeen: a.lastSeen,
    pools: await agents.pools(a.id),
    repositories: await agents.repositories(a.id),
  })

  app.post<{ Body: AgentBody }>(
    '/api/agents',
    { schema: { tags: ['agents'], body: AgentInput, response: { 201: NewAgent } } },
    async (request, reply) => {
      if (ctx.fingerprint === undefined)
        throw conflict(
          'agents connect over HTTPS only: serve the API with tls (docs/install.md)',
          'AGENT_NEEDS_HTTPS',
        )
      const created = await agents.create(request.body.name)
      ctx.log.info(`agent '${created.name}' created by ${request.user?.username}`)
      const body: NewAgent = {
        id: created.id,
        token: created.token,
        serverUrl: serverUrl(request),
        fingerprint: ctx.fingerprint,
      }
      return reply.status(201).send(body)
    },
  )

  app.get(
    '/api/agents',
    { schema: { tags: ['agents'], response: { 200: { type: 'array', items: Agent } } } },
    async () => Promise.all((await agents.list()).map(view)),
  )

  app.delete<{ Params: { id: string } }>(
    '/api/agents/:id',
    { schema: { tags: ['agents'], params: idParams } },
    async (request, reply) => {
      const agent = await agents.get(request.params.id)
      const pools = await agents.pools(agent.id)
      await agents.delete(agent.id) // the token opens nothing from now on
      hub.revoke(agent.id)
      for (const id of pools)
        await ctx.connections.connect(await ctx.pools.get(id), await ctx.pools.password(id))
      ctx.log.info(`agent '${agent.name}' revoked by ${request.user?.username}`)
      return reply.status(204).send()
    },
  )

  app.put<{ Params: { id: string }; Body: PoolAgentBody }>(
    '/api/pools/:id/agent',
    { schema: { tags: ['agents'], params: idParams, body: PoolAgentInput } },
    async (request) => {
      const pool = await ctx.pools.get(request.params.id)
      const { agentId } = request.body
      await agents.assign(pool.id, agentId)
      if (agentId === null) await ctx.connections.connect(pool, await ctx.pools.password(pool.id))
      else await ctx.connections.disconnect(pool.id)
      return { poolId: pool.id, agentId }
    },
  )

  agentRepositoryRoutes(app, ctx)

  void app.register(async (scope) => {
    await scope.register(websocket, { options: { maxPayload: AGENT_MAX_MESSAGE_BYTES } })
    scope.get(
      AGENT_CONNECT_PATH,
      { websocket: true, config: { agent: true }, schema: { hide: true } },
      (socket, request) => {
        const agent = request.agentRecord
        if (agent === undefined) throw new ApiError(401, 'UNAUTHENTICATED', 'an agent token is needed')
        hub.accept(agent, socket)
      },
    )
    // A download's bytes, on a stream of their own (agent-downloads.ts): the control link stays free.
    scope.get<{ Params: { id: string } }>(
      `${AGENT_DOWNLOAD_PATH}:id`,
      { websocket: true, config: { agent: true }, schema: { hide: true } },
      (socket, request) => {
        const agent = request.agentRecord
        if (agent === undefined) throw new ApiError(401, 'UNAUTHENTICATED', 'an agent token is needed')
        ctx.downloads.accept(agent, request.params.id, socket)
      },
    )
  })
}

/** The URL the caller reached this server by: what the agent connects to. */
function serverUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}
