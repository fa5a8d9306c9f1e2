// Users (admin only, the default for changes; listing is admin too since it names every account).
import type { FastifyInstance } from 'fastify'
import type { Role, Users } from '../auth/users.js'
import { UserInput, UserPatch } from '@strata/contract'
import type { EventStreams } from '../runs/event-streams.js'
import { idParams } from './schemas.js'

/** What the user routes are given. */
export interface UserRouteServices {
  readonly users: Users
  /** A user's event streams end with their password or their account. */
  readonly streams: EventStreams
}

export function userRoutes(app: FastifyInstance, ctx: UserRouteServices): void {
  const { users } = ctx
  const admin = { role: 'admin' as const }

  app.get('/api/users', { config: admin, schema: { tags: ['users'] } }, async () => users.list())

  app.post<{ Body: { username: string; password: string; role: Role } }>(
    '/api/users',
    {
      schema: {
        tags: ['users'],
        body: UserInput,
      },
    },
    async (request, reply) => {
      const { username, password, role: r } = request.body
      return reply.status(201).send(await users.create(username, password, r))
    },
  )

  app.patch<{ Params: { id: string }; Body: { password?: string; role?: Role } }>(
    '/api/users/:id',
    {
      schema: { tags: ['users'], params: idParams, body: UserPatch },
    },
    async (request) => {
      const user = await users.update(request.params.id, request.body)
      // A new password ends the user's sessions and tokens: their event streams end with them.
      if (request.body.password !== undefined) ctx.streams.endUser(user.id)
      return user
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/users/:id',
    { schema: { tags: ['users'], params: idParams } },
    async (request, reply) => {
      await users.delete(request.params.id)
      ctx.streams.endUser(request.params.id)
      return reply.status(204).send()
    },
  )
}
