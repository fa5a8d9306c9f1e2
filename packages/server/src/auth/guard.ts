// Who is calling and may they: a session cookie or a Bearer token, then the route's role. Routes say the
// least role they need in their config (`role`); without one, reads need 'read-only' and changes need
// 'admin'. Only routes marked `public` (login, the OpenAPI document, the UI shell) skip all this.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ApiError, forbidden } from '../errors.js'
import type { Role, User, Users } from './users.js'

export const SESSION_COOKIE = 'strata_session'

declare module 'fastify' {
  interface FastifyRequest {
    user?: User
  }
  interface FastifyContextConfig {
    public?: boolean
    role?: Role
  }
}

const RANK: Record<Role, number> = { 'read-only': 0, operator: 1, admin: 2 }

export function installGuard(app: FastifyInstance, users: Users): void {
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config
    if (config.public === true || !request.url.startsWith('/api/')) return
    const user = authenticate(request, users)
    if (user === undefined) throw new ApiError(401, 'UNAUTHENTICATED', 'log in first (or send an API token)')
    request.user = user
    const needed = config.role ?? (request.method === 'GET' ? 'read-only' : 'admin')
    if (RANK[user.role] < RANK[needed]) throw forbidden(`this needs the ${needed} role; you are ${user.role}`)
  })
}

function authenticate(request: FastifyRequest, users: Users): User | undefined {
  const header = request.headers.authorization
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    return match === null ? undefined : users.byToken(match[1]!)
  }
  const session = request.cookies[SESSION_COOKIE]
  return session === undefined ? undefined : users.bySession(session)
}

/** The authenticated user of a route that is not public. */
export function userOf(request: FastifyRequest): User {
  if (request.user === undefined) throw new ApiError(401, 'UNAUTHENTICATED', 'log in first')
  return request.user
}
