// Repositories: CRUD (admin), usage, the restore view's VMs and points, and disks as VHD downloads.
import type { FastifyInstance } from 'fastify'
import { openRepository } from '@strata/core/open'
import type { AppContext } from '../context.js'
import { ApiError, conflict } from '../errors.js'
import { secretsEnv, type RepositoryInput, type RepositoryRecord } from '../repositories/repository-store.js'
import { idParams, obj, str } from './schemas.js'

const s3 = obj({ accessKeyId: str({ maxLength: 200 }), secretAccessKey: str({ maxLength: 200 }) }, [
  'accessKeyId',
  'secretAccessKey',
])
const repoBody = {
  name: str({ maxLength: 100 }),
  location: str({ maxLength: 1000 }),
  passphrase: str({ maxLength: 1000 }),
  s3,
}

export function repositoryRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { repositories: store, repositoryService: service } = ctx
  const view = (r: RepositoryRecord) => {
    const usage = service.usage(r.id)
    return usage === undefined ? r : { ...r, usage }
  }

  app.get('/api/repositories', { schema: { tags: ['repositories'] } }, async () => store.list().map(view))

  app.get<{ Params: { id: string } }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request) => view(store.get(request.params.id)),
  )

  app.post<{ Body: RepositoryInput & { init?: boolean } }>(
    '/api/repositories',
    {
      schema: {
        tags: ['repositories'],
        body: obj({ ...repoBody, init: { type: 'boolean' } }, ['name', 'location']),
      },
    },
    async (request, reply) => {
      const { init, ...input } = request.body
      await checkOpens(input, init === true, AbortSignal.timeout(60_000))
      const record = store.create(input)
      ctx.log.info(`repository '${record.name}' added by ${request.user?.username}`)
      return reply.status(201).send(view(record))
    },
  )

  app.patch<{ Params: { id: string }; Body: Partial<RepositoryInput> }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams, body: obj(repoBody) } },
    async (request) => {
      const before = store.get(request.params.id)
      const secrets = store.secrets(before.id)
      await checkOpens({ ...before, ...secrets, ...request.body }, false, AbortSignal.timeout(60_000))
      const record = store.update(before.id, request.body)
      service.forget(record.id)
      return view(record)
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request, reply) => {
      const { id } = request.params
      store.get(id)
      const user = ctx.jobs.list().find((j) => j.repositories.includes(id))
      if (user !== undefined) throw conflict(`repository '${id}' is used by job '${user.name}'`)
      store.delete(id)
      service.forget(id)
      return reply.status(204).send()
    },
  )

  app.get<{ Params: { id: string } }>(
    '/api/repositories/:id/vms',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request) => service.vms(store.get(request.params.id).id, AbortSignal.timeout(60_000)),
  )

  app.get<{ Params: { id: string }; Querystring: { vm?: string } }>(
    '/api/repositories/:id/points',
    {
      schema: {
        tags: ['repositories'],
        params: idParams,
        querystring: obj({ vm: str({ maxLength: 100, pattern: '^[A-Za-z0-9-]+$' }) }),
      },
    },
    async (request) =>
      service.points(store.get(request.params.id).id, request.query.vm, AbortSignal.timeout(60_000)),
  )
}

/** A repository is added only when it opens (or, with init, once created): no record of a typo. */
async function checkOpens(input: RepositoryInput, init: boolean, signal: AbortSignal): Promise<void> {
  const passphrase = input.passphrase === undefined ? undefined : new TextEncoder().encode(input.passphrase)
  try {
    await openRepository(input.location, { credentials: secretsEnv(input), passphrase, create: init, signal })
  } catch (error) {
    throw new ApiError(
      400,
      'REPOSITORY_UNAVAILABLE',
      `no usable repository at '${input.location}': ${(error as Error).message}`,
    )
  }
}
