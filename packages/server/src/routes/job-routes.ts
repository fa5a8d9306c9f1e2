// Jobs: CRUD (admin), a preview of the VMs a selection matches now, and runs started by hand (operator).
import type { FastifyInstance } from 'fastify'
import { selectVms, type PoolVms } from '@strata/core/engine'
import type { ObjectCache } from '@strata/core/xapi'
import type { AppContext } from '../context.js'
import { ApiError, invalid } from '../errors.js'
import type { ApiJob } from '../jobs/job-model.js'
import { jobPools, toEngineJob } from '../jobs/job-model.js'
import { jobCreateSchema, jobPatchSchema, vmsSchema } from '../jobs/job-schema.js'
import type { JobInput } from '../jobs/job-store.js'
import { idParams, obj, str } from './schemas.js'

export function jobRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { jobs, runs, scheduler } = ctx
  const view = (job: ApiJob) => {
    const next = scheduler.nextRun(job)
    return { ...job, running: runs.isRunning(job.id), ...(next === undefined ? {} : { nextRun: next.at }) }
  }

  /** Ids must name existing pools and repositories; then the engine's own validation, without secrets. */
  const check = (job: ApiJob): ApiJob => {
    for (const [i, id] of job.repositories.entries()) {
      if (!ctx.repositories.list().some((r) => r.id === id))
        throw invalid(`no repository '${id}'`, `body/repositories/${i}`)
    }
    const known = ctx.pools.list()
    for (const [i, id] of (job.vms.smart?.pools ?? []).entries()) {
      if (!known.some((p) => p.id === id)) throw invalid(`no pool '${id}'`, `body/vms/smart/pools/${i}`)
    }
    const poolIds = jobPools(
      job,
      known.map((p) => p.id),
    )
    if (poolIds.length === 0) throw invalid('add a pool before creating a job', 'body/vms')
    toEngineJob(
      job,
      poolIds.map((id) => ctx.pools.get(id)),
      job.repositories.map((id) => ctx.repositories.get(id)),
    )
    runs.engineJob(job) // secrets that one worker cannot take together
    return job
  }

  app.get('/api/jobs', { schema: { tags: ['jobs'] } }, async () => jobs.list().map(view))

  app.get<{ Params: { id: string } }>(
    '/api/jobs/:id',
    { schema: { tags: ['jobs'], params: idParams } },
    async (r) => view(jobs.get(r.params.id)),
  )

  app.post<{ Body: JobInput }>(
    '/api/jobs',
    { schema: { tags: ['jobs'], body: jobCreateSchema } },
    async (request, reply) => {
      const job = jobs.save(check(jobs.normalize(request.body)))
      scheduler.reload()
      return reply.status(201).send(view(job))
    },
  )

  app.patch<{ Params: { id: string }; Body: Partial<JobInput> }>(
    '/api/jobs/:id',
    { schema: { tags: ['jobs'], params: idParams, body: jobPatchSchema } },
    async (request) => {
      const before = jobs.get(request.params.id)
      const job = jobs.save(check(jobs.normalize({ ...before, ...request.body }, before.id)))
      scheduler.reload()
      return view(job)
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/jobs/:id',
    { schema: { tags: ['jobs'], params: idParams } },
    async (request, reply) => {
      jobs.delete(request.params.id)
      scheduler.reload()
      return reply.status(204).send()
    },
  )

  app.post<{ Body: { vms: ApiJob['vms'] } }>(
    '/api/jobs/preview',
    { config: { role: 'read-only' }, schema: { tags: ['jobs'], body: obj({ vms: vmsSchema }, ['vms']) } },
    async (request) => {
      const { vms } = request.body
      const ids = jobPools(
        { vms },
        ctx.pools.list().map((p) => p.id),
      )
      const caches: (PoolVms & { cache: ObjectCache })[] = []
      for (const id of ids) {
        const cache = ctx.connections.cache(ctx.pools.get(id).id)
        if (cache === undefined)
          throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${ctx.pools.get(id).name}' is not connected`)
        caches.push({ poolId: id, cache })
      }
      const s = vms.smart
      const selection =
        s === undefined
          ? { kind: 'explicit' as const, vms: vms.uuids ?? [] }
          : {
              kind: 'smart' as const,
              pools: s.pools,
              tags: s.tags,
              powerState: s.powerState,
              excludeVms: s.excludeUuids,
              excludeTags: s.excludeTags,
              restoredTag: ctx.settings.restoreTag(),
            }
      const result = selectVms(selection, caches)
      return result.vms.map((vm) => {
        const record =
          caches.find((c) => c.poolId === vm.poolId)!.cache.find('vm', { uuid: vm.uuid })[0]?.[1] ?? {}
        return { ...vm, powerState: record.power_state, tags: record.tags }
      })
    },
  )

  app.post<{ Params: { id: string }; Body: { scheduleId?: string } | undefined }>(
    '/api/jobs/:id/run',
    {
      config: { role: 'operator' },
      schema: { tags: ['jobs'], params: idParams, body: { ...obj({ scheduleId: str() }), nullable: true } },
    },
    async (request, reply) => {
      const runId = runs.startJob(jobs.get(request.params.id), request.body?.scheduleId)
      ctx.log.info(`run ${runId} of job '${request.params.id}' started by ${request.user?.username}`)
      return reply.status(202).send({ runId })
    },
  )
}
