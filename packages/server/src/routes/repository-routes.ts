// Repositories: CRUD (admin), usage, the restore view's VMs and points (deleted and protected by an
// admin), and disks as VHD downloads.
import type { FastifyInstance } from 'fastify'
import { openRepository } from '@strata/core/open'
import { checkNewSecret, type RepositoryIdentity } from '@strata/core/repository'
import { jobRepositories } from '../jobs/job-model.js'
import type { JobStore } from '../jobs/job-store.js'
import type { AgentRepositoryAccess } from '../agents/agent-repository-access.js'
import { conflict, notFound } from '../errors.js'
import { repositoryApiError } from '../repositories/repository-errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import {
  secretsEnv,
  type RepositoryInput,
  type RepositoryRecord,
  type RepositoryStore,
} from '../repositories/repository-store.js'
import type { ServerLog } from '../server-log.js'
import {
  PointParams,
  PointsQuery,
  RepositoryInput as RepositoryBody,
  RepositoryPatch,
  type PointProtection,
  type Repository,
  type RestorePoint,
} from '@strata/contract'
import { idParams } from './schemas.js'

/** What the repository routes are given. */
export interface RepositoryRouteServices {
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  /** A repository a job uses is not deleted; points name their job. */
  readonly jobs: JobStore
  readonly log: ServerLog
  /** Where NAS remotes are mounted (nas-mounts.ts). */
  readonly mountDir: string
  /** Repositories assigned to an agent: added, opened and checked by it (docs/agents.md). */
  readonly agentRepositories?: AgentRepositoryAccess
}

export function repositoryRoutes(app: FastifyInstance, ctx: RepositoryRouteServices): void {
  const { repositories: store, repositoryService: service } = ctx
  const view = async (r: RepositoryRecord): Promise<Repository> => {
    const rollback = await service.rollback?.warning(r.id)
    const agentId = await ctx.agentRepositories?.agentOf(r.id)
    return { ...r, ...(agentId && { agentId }), ...service.usageState(r.id), ...(rollback && { rollback }) }
  }

  app.get('/api/repositories', { schema: { tags: ['repositories'] } }, async () =>
    Promise.all((await store.list()).map(view)),
  )

  app.get<{ Params: { id: string } }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request) => view(await store.get(request.params.id)),
  )

  app.post<{ Body: RepositoryBody }>(
    '/api/repositories',
    {
      schema: {
        tags: ['repositories'],
        body: RepositoryBody,
      },
    },
    async (request, reply) => {
      const { init, force, agentId, ...input } = request.body
      checkPassphrase(input.passphrase, force)
      const signal = AbortSignal.timeout(60_000)
      const identity =
        agentId === undefined
          ? await checkOpens(input, { init: init === true, force, mountDir: ctx.mountDir }, signal)
          : await onAgent(ctx, agentId).open(agentId, input, { create: init === true, force }, signal)
      const record = await store.create(input, identity)
      if (agentId !== undefined) await ctx.agentRepositories?.assign(record.id, agentId)
      ctx.log.info(`repository '${record.name}' added by ${request.user?.username}`)
      return reply.status(201).send(await view(record))
    },
  )

  app.patch<{ Params: { id: string }; Body: RepositoryPatch }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams, body: RepositoryPatch } },
    async (request) => {
      const { acceptConfig, force, ...change } = request.body
      const before = await store.get(request.params.id)
      const secrets = await store.secrets(before.id)
      checkPassphrase(change.passphrase, force)
      // Another location is another repository; accepting a changed one records it as it is now.
      const moved = change.location !== undefined && change.location !== before.location
      const expected = acceptConfig === true || moved ? undefined : before.identity
      const input = { ...before, ...secrets, ...change }
      const signal = AbortSignal.timeout(60_000)
      const agentId = await ctx.agentRepositories?.agentOf(before.id)
      const identity =
        agentId === undefined
          ? await checkOpens(input, { init: false, expected, mountDir: ctx.mountDir }, signal)
          : await onAgent(ctx, agentId).open(agentId, { ...input, expected }, { create: false }, signal)
      await store.update(before.id, change)
      const record = await store.recordIdentity(before.id, identity)
      if (acceptConfig === true)
        ctx.log.info(`repository '${record.name}': configuration accepted as it is now`)
      service.forget(record.id)
      return view(record)
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/repositories/:id',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request, reply) => {
      const { id } = request.params
      await store.get(id)
      const user = (await ctx.jobs.list()).find((j) => jobRepositories(j).includes(id))
      if (user !== undefined) throw conflict(`repository '${id}' is used by job '${user.name}'`)
      await store.delete(id)
      service.forget(id)
      return reply.status(204).send()
    },
  )

  app.get<{ Params: { id: string } }>(
    '/api/repositories/:id/vms',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request) => service.vms((await store.get(request.params.id)).id, AbortSignal.timeout(60_000)),
  )

  // A VM is named by its uuid or its name; each point says which job and schedule wrote it.
  app.get<{ Params: { id: string }; Querystring: { vm?: string } }>(
    '/api/repositories/:id/points',
    {
      schema: {
        tags: ['repositories'],
        params: idParams,
        querystring: PointsQuery,
      },
    },
    async (request, reply) => {
      const { id } = await store.get(request.params.id)
      const points = await service.points(id, request.query.vm, AbortSignal.timeout(60_000))
      const jobs = new Map((await ctx.jobs.list()).map((j) => [j.id, j]))
      const listed = points.map((p): RestorePoint => {
        const job = p.jobId === undefined ? undefined : jobs.get(p.jobId)
        const schedule = job?.schedules.find((s) => s.id === p.scheduleId)
        const made = shown.get(p)
        if (made !== undefined && made.jobName === job?.name && made.scheduleName === schedule?.name)
          return made
        const point: RestorePoint = {
          ...p,
          disks: [...p.disks],
          protected: p.protected,
          ...(job === undefined ? {} : { jobName: job.name }),
          ...(schedule?.name === undefined ? {} : { scheduleName: schedule.name }),
        }
        shown.set(p, point)
        return point
      })
      // The same points as the last full listing of this repository: the same answer (4 MiB of JSON
      // for 10,000 points), not made again.
      if (request.query.vm !== undefined) return listed
      const last = answered.get(id)
      const same =
        last !== undefined &&
        last.points.length === listed.length &&
        listed.every((p, i) => p === last.points[i])
      const body = same ? last.body : JSON.stringify(listed)
      if (!same) answered.set(id, { points: listed, body })
      return reply.type('application/json; charset=utf-8').send(body)
    },
  )
  app.post<{ Params: { id: string } }>(
    '/api/repositories/:id/rollback/acknowledge',
    { schema: { tags: ['repositories'], params: idParams } },
    async (request, reply) => {
      const repo = await store.get(request.params.id)
      await service.rollback?.acknowledge(repo.id, request.user?.username ?? 'a client')
      return reply.status(204).send()
    },
  )
  pointRoutes(app, ctx)
}

/** One point: deleted (its chunks go at the next GC), protected from retention and deletes, unprotected. */
/**
 * What the API showed of a point the service gives again unchanged (the same object while nothing about
 * it changed): shown again as it was while its job's and schedule's names are the same.
 */
const shown = new WeakMap<object, RestorePoint>()

/** The last full listing answered per repository, and its JSON. */
const answered = new Map<string, { points: readonly RestorePoint[]; body: string }>()

function pointRoutes(app: FastifyInstance, ctx: RepositoryRouteServices): void {
  type Params = { Params: { id: string; pointId: string } }
  const { repositories: store, repositoryService: service } = ctx
  const schema = { tags: ['repositories'], params: PointParams }
  const who = (r: { user?: { username: string } }) => r.user?.username ?? 'a client'

  app.delete<Params>('/api/repositories/:id/points/:pointId', { schema }, async (request, reply) => {
    const repo = await store.get(request.params.id)
    const pointId = await service.deletePoint(repo.id, request.params.pointId, AbortSignal.timeout(60_000))
    ctx.log.info(`restore point ${pointId} of repository '${repo.name}' deleted by ${who(request)}`)
    return reply.status(204).send()
  })

  for (const [method, on] of [
    ['post', true],
    ['delete', false],
  ] as const) {
    app[method]<Params>(
      '/api/repositories/:id/points/:pointId/protection',
      { schema },
      async (request): Promise<PointProtection> => {
        const repo = await store.get(request.params.id)
        const { pointId: wanted } = request.params
        const pointId = await service.protect(repo.id, wanted, on, AbortSignal.timeout(60_000))
        const verb = on ? 'protected' : 'unprotected'
        ctx.log.info(`restore point ${pointId} of repository '${repo.name}' ${verb} by ${who(request)}`)
        return { pointId, protected: on }
      },
    )
  }
}

function onAgent(ctx: RepositoryRouteServices, agentId: string): AgentRepositoryAccess {
  if (ctx.agentRepositories === undefined) throw notFound(`agent '${agentId}'`)
  return ctx.agentRepositories
}

/** New passphrases shorter than MIN_PASSPHRASE_LENGTH are refused unless `force` (WEAK_PASSPHRASE). */
function checkPassphrase(passphrase: string | undefined, force: boolean | undefined): void {
  if (passphrase === undefined) return
  try {
    checkNewSecret(new TextEncoder().encode(passphrase), force, 'the repository')
  } catch (error) {
    throw repositoryApiError(error, 'passphrase refused', 400)
  }
}

interface CheckOptions {
  readonly init: boolean
  readonly force?: boolean
  /** What was recorded of it before: a repository that changed since is refused. */
  readonly expected?: RepositoryIdentity
  /** Where NAS remotes are mounted (nas-mounts.ts). */
  readonly mountDir: string
}

/**
 * A repository is added only when it opens (or, with init, once created): no record of a typo. Resolves
 * to its identity, which the server records and compares at every later open.
 */
async function checkOpens(
  input: RepositoryInput,
  { init, force, expected, mountDir }: CheckOptions,
  signal: AbortSignal,
): Promise<RepositoryIdentity> {
  const passphrase = input.passphrase === undefined ? undefined : new TextEncoder().encode(input.passphrase)
  try {
    const repo = await openRepository(input.location, {
      credentials: secretsEnv(input),
      store: { nas: { mountDir } },
      passphrase,
      expected,
      create: init,
      force,
      signal,
    })
    // Only checked here: the service opens it again, with its own store, when it is used.
    await repo.store.close?.()
    return repo.identity
  } catch (error) {
    throw repositoryApiError(error, `no usable repository at '${input.location}'`, 400)
  }
}
