// Jobs: CRUD (admin), a preview of the VMs a selection matches now, and runs started by hand (operator).
// Bodies are checked by @strata/contract (the validator of the CLI and the UI too); old spellings are
// accepted with a warning in the response's `warnings` and in the server log.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import {
  checkJobInput,
  checkJobPatch,
  formatProblem,
  IdParams,
  JobInputAccepted,
  JobPatchAccepted,
  PreviewInputAccepted,
  RunJobInput,
  upgradeJobInput,
  type Checked,
  type JobInput,
  type Problem,
  type VmSelection,
} from '@strata/contract'
import { selectVms, type PoolVms } from '@strata/core/engine'
import type { ObjectCache } from '@strata/core/xapi'
import { ApiError, invalid } from '../errors.js'
import type { ApiJob } from '../jobs/job-model.js'
import { jobPools, toEngineJob } from '../jobs/job-model.js'
import { engineSelection } from '../jobs/job-selection.js'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from '../runs/run-manager.js'
import type { Scheduler } from '../scheduler/scheduler.js'
import type { Coordinator } from '../cluster/coordinator.js'
import type { ServerLog } from '../server-log.js'
import type { Settings } from '../settings.js'
import { contractValidator, validationError } from './contract-validation.js'

/** What the job routes are given. */
export interface JobRouteServices {
  readonly jobs: JobStore
  readonly runs: RunManager
  readonly scheduler: Scheduler
  readonly pools: PoolStore
  /** The previews read the pools' live object caches. */
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  /** The restored-VM tag that previews leave out. */
  readonly settings: Settings
  readonly log: ServerLog
  /** Tells the other instances of a cluster that the jobs changed (their schedulers read them again). */
  readonly cluster?: Pick<Coordinator, 'publish'>
}

export function jobRoutes(app: FastifyInstance, ctx: JobRouteServices): void {
  const { jobs, runs, scheduler } = ctx
  const jobsChanged = async (): Promise<void> => {
    await scheduler.reload()
    ctx.cluster?.publish({ type: 'jobs' })
  }
  const view = (job: ApiJob, warnings: readonly Problem[] = []) => {
    const next = scheduler.nextRun(job)
    return {
      ...job,
      running: runs.isRunning(job.id),
      ...(next === undefined ? {} : { nextRun: next.at }),
      ...(warnings.length === 0 ? {} : { warnings: warnings.map(formatProblem) }),
    }
  }

  /** The checked job, and a line in the server log for each old spelling the client still sends. */
  const accepted = (request: FastifyRequest, checked: Checked<JobInput>): JobInput => {
    noteOldSpellings(request, checked.warnings)
    if (!checked.ok) throw validationError(checked.problems)
    return checked.value
  }
  const noteOldSpellings = (request: FastifyRequest, warnings: readonly Problem[]): void => {
    if (warnings.length === 0) return
    const who = request.user?.username ?? 'a client'
    const list = warnings.map(formatProblem).join('; ')
    ctx.log.warn(`${request.method} ${request.url.split('?')[0]} by ${who} used old spellings: ${list}`)
  }

  /** Ids must name existing pools and repositories; then the engine's own validation, without secrets. */
  const check = async (job: ApiJob): Promise<ApiJob> => {
    for (const [field, ids] of [
      ['repositories', job.repositories],
      ['mirrorTo', job.mirrorTo ?? []],
    ] as const) {
      for (const [i, id] of ids.entries()) {
        if (!(await ctx.repositories.list()).some((r) => r.id === id))
          throw invalid(`no repository '${id}'`, `body/${field}/${i}`)
      }
    }
    const known = await ctx.pools.list()
    for (const [i, id] of ('smart' in job.vms ? job.vms.smart.pools : []).entries()) {
      if (!known.some((p) => p.id === id)) throw invalid(`no pool '${id}'`, `body/vms/smart/pools/${i}`)
    }
    for (const [i, t] of job.targets.entries()) {
      if (!known.some((p) => p.id === t.pool)) throw invalid(`no pool '${t.pool}'`, `body/targets/${i}/pool`)
    }
    const poolIds = jobPools(
      job,
      known.map((p) => p.id),
    )
    if (poolIds.length === 0 && job.kind !== 'mirror')
      throw invalid('add a pool before creating a job', 'body/vms')
    toEngineJob(
      job,
      await Promise.all(poolIds.map((id) => ctx.pools.get(id))),
      await Promise.all(job.repositories.map((id) => ctx.repositories.get(id))),
      await Promise.all((job.mirrorTo ?? []).map((id) => ctx.repositories.get(id))),
    )
    await runs.engineJob(job) // secrets that one worker cannot take together
    return job
  }

  app.get('/api/jobs', { schema: { tags: ['jobs'] } }, async () =>
    (await jobs.list()).map((job) => view(job)),
  )

  app.get<{ Params: { id: string } }>(
    '/api/jobs/:id',
    { schema: { tags: ['jobs'], params: IdParams } },
    async (r) => view(await jobs.get(r.params.id)),
  )

  app.post(
    '/api/jobs',
    {
      schema: { tags: ['jobs'], body: JobInputAccepted },
      validatorCompiler: contractValidator(checkJobInput),
    },
    async (request, reply) => {
      const checked = checkJobInput(request.body)
      const job = await jobs.save(await check(jobs.complete(accepted(request, checked))))
      await jobsChanged()
      return reply.status(201).send(view(job, checked.warnings))
    },
  )

  app.patch<{ Params: { id: string } }>(
    '/api/jobs/:id',
    {
      schema: { tags: ['jobs'], params: IdParams, body: JobPatchAccepted },
      validatorCompiler: contractValidator(),
    },
    async (request) => {
      const before = await jobs.get(request.params.id)
      const checked = checkJobPatch(request.body, before)
      const job = await jobs.save(await check(jobs.complete(accepted(request, checked), before.id)))
      await jobsChanged()
      return view(job, checked.warnings)
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/jobs/:id',
    { schema: { tags: ['jobs'], params: IdParams } },
    async (request, reply) => {
      await jobs.delete(request.params.id)
      await jobsChanged()
      return reply.status(204).send()
    },
  )

  app.post(
    '/api/jobs/preview',
    {
      config: { role: 'read-only' },
      schema: { tags: ['jobs'], body: PreviewInputAccepted },
      validatorCompiler: contractValidator(),
    },
    async (request) => {
      const upgraded = upgradeJobInput(request.body)
      noteOldSpellings(request, upgraded.warnings)
      const { vms } = upgraded.value as { vms: VmSelection }
      const ids = jobPools(
        { vms },
        (await ctx.pools.list()).map((p) => p.id),
      )
      const caches: (PoolVms & { cache: ObjectCache })[] = []
      for (const id of ids) {
        const cache = ctx.connections.cache((await ctx.pools.get(id)).id)
        if (cache === undefined)
          throw new ApiError(
            502,
            'POOL_UNREACHABLE',
            `pool '${(await ctx.pools.get(id)).name}' is not connected`,
          )
        caches.push({ poolId: id, cache })
      }
      const selection = engineSelection(vms, await ctx.settings.restoreTag())
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
      schema: { tags: ['jobs'], params: IdParams, body: RunJobInput },
    },
    async (request, reply) => {
      const runId = await runs.startJob(await jobs.get(request.params.id), request.body?.scheduleId)
      ctx.log.info(`run ${runId} of job '${request.params.id}' started by ${request.user?.username}`)
      return reply.status(202).send({ runId })
    },
  )
}
