// Users (admin only, the default for changes; listing is admin too since it names every account).
import type { FastifyInstance } from 'fastify'
import type { Role } from '../auth/users.js'
import type { AppContext } from '../context.js'
import { UserInput, UserPatch } from '@strata/contract'
import { idParams } from './schemas.js'

export function userRoutes(app: FastifyInstance, ctx: AppContext): void {
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
    async (request) => users.update(request.params.id, request.body),
  )

  app.delete<{ Params: { id: string } }>(
    '/api/users/:id',
    { schema: { tags: ['users'], params: idParams } },
    async (request, reply) => {
      users.delete(request.params.id)
      return reply.status(204).send()
    },
  )
}
