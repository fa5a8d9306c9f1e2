// Who is calling and may they, decided on the route the router matched (never on the raw request
// target, which a client can spell many ways: `/%61pi/...`, `http://host/api/...`). Every route is
// private unless its config says `public: true`; a private route needs a session cookie or a Bearer
// token, then the least role it names (`role`; without one, reads need 'read-only' and changes
// 'admin'). An unknown path is private too: an anonymous caller gets the same 401 as on a real route,
// except a browser's GET outside the API, which gets the UI shell (its router shows the login page).
// Changes made with a session cookie also need the X-Strata-Request header (see csrf.ts).
import type { AgentRecord } from '../agents/agent-store.js'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import { ApiError, forbidden } from '../errors.js'
import { requireCsrfHeader } from './csrf.js'
import { isUiPagePath } from './request-path.js'
import type { Credential, Credentials } from './credentials.js'
import type { Role, User } from './users.js'

declare module 'fastify' {
  interface FastifyRequest {
    user?: User
    credential?: Credential
    /** The agent whose token opened an agent route. */
    agentRecord?: AgentRecord
  }
  interface FastifyContextConfig {
    public?: boolean
    role?: Role
    /** Opened by an agent's token only (agents/agent-routes.ts), never by a user's credential. */
    agent?: boolean
  }
}

export interface RouteInfo {
  readonly method: string
  readonly url: string
  readonly public: boolean
}

const RANK: Record<Role, number> = { 'read-only': 0, operator: 1, admin: 2 }
const tables = new WeakMap<FastifyInstance, RouteOptions[]>()

/** Every route registered since the guard was installed, with whether it is public. */
export function registeredRoutes(app: FastifyInstance): RouteInfo[] {
  // Read now, not when recorded: hooks of plugins registered later may still mark a route public.
  return (tables.get(app) ?? []).flatMap((route) =>
    [route.method]
      .flat()
      .map((method) => ({ method, url: route.url, public: route.config?.public === true })),
  )
}

export function installGuard(app: FastifyInstance, credentials: Credentials): void {
  const table: RouteOptions[] = []
  tables.set(app, table)
  app.addHook('onRoute', (route) => void table.push(route))
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public === true) return
    if (request.routeOptions.config.agent === true) {
      request.agentRecord = await credentials.authenticateAgent(request)
      if (request.agentRecord === undefined)
        throw new ApiError(401, 'UNAUTHENTICATED', 'this route needs an agent token (STRATA_AGENT_TOKEN)')
      return
    }
    const credential = await credentials.authenticate(request)
    if (credential === undefined) {
      if (request.is404 && isUiShellRequest(request)) return
      throw new ApiError(401, 'UNAUTHENTICATED', 'log in first (or send an API token)')
    }
    request.user = credential.user
    request.credential = credential
    if (request.is404) return // the not-found handler answers 404 to a known caller
    const needed = request.routeOptions.config.role ?? (isRead(request) ? 'read-only' : 'admin')
    if (RANK[credential.user.role] < RANK[needed])
      throw forbidden(`this needs the ${needed} role; you are ${credential.user.role}`)
    requireCsrfHeader(request, credential)
  })
}

const isRead = (request: FastifyRequest): boolean => request.method === 'GET' || request.method === 'HEAD'

/** A browser loading a page of the UI (history routing). */
function isUiShellRequest(request: FastifyRequest): boolean {
  return request.method === 'GET' && isUiPagePath(request.url)
}

/** The authenticated user of a route that is not public. */
export function userOf(request: FastifyRequest): User {
  if (request.user === undefined) throw new ApiError(401, 'UNAUTHENTICATED', 'log in first')
  return request.user
}
