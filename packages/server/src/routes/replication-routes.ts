// Replicas (docs/replication.md): the replicas and restore points a replication job keeps on its target
// SRs' pools (read-only), and a failover (operator): the newest replica of a VM, or a chosen replica or
// restore point, started; with `clone`, a fast clone of it, which keeps the replica chain intact.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { IdParams } from '@strata/contract'
import { failover, listReplicas, type ReplicaInfo } from '@strata/core/engine'
import { silentTask } from '@strata/core'
import { ApiError, invalid } from '../errors.js'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import type { ServerLog } from '../server-log.js'

export interface ReplicationRouteServices {
  readonly jobs: JobStore
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly log: ServerLog
  readonly closing: AbortSignal
}

const FailoverInput = Type.Object(
  {
    pool: Type.String({ maxLength: 100, description: 'The pool (server id) that holds the replica.' }),
    replica: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'A replica or restore point (uuid or name), or a source VM for its newest replica.',
    }),
    clone: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
)
type FailoverInput = Static<typeof FailoverInput>

export function replicationRoutes(app: FastifyInstance, ctx: ReplicationRouteServices): void {
  const clientOf = async (poolId: string, where: string) => {
    if (!(await ctx.pools.list()).some((p) => p.id === poolId)) throw invalid(`no pool '${poolId}'`, where)
    const client = ctx.connections.client(poolId)
    if (client === undefined || ctx.connections.cache(poolId) === undefined)
      throw new ApiError(
        503,
        'POOL_UNREACHABLE',
        `pool '${(await ctx.pools.get(poolId)).name}' is not connected`,
      )
    return client
  }

  app.get<{ Params: { id: string } }>(
    '/api/jobs/:id/replicas',
    { schema: { tags: ['jobs'], params: IdParams } },
    async (request) => {
      const job = await ctx.jobs.get(request.params.id)
      const out: (ReplicaInfo & { pool: string })[] = []
      for (const pool of new Set(job.targets.map((t) => t.pool))) {
        const client = await clientOf(pool, 'targets')
        const all = await listReplicas(client, ctx.closing)
        out.push(...all.filter((r) => r.jobId === job.id).map((r) => ({ ...r, pool })))
      }
      return out.sort((a, b) => b.time.localeCompare(a.time))
    },
  )

  app.post<{ Body: FailoverInput }>(
    '/api/replicas/failover',
    { schema: { tags: ['jobs'], body: FailoverInput }, config: { role: 'operator' } },
    async (request) => {
      const { pool, replica, clone } = request.body
      const client = await clientOf(pool, 'body/pool')
      const result = await failover(silentTask(ctx.closing), client, { replica, clone: clone === true })
      const who = request.user?.username ?? 'a client'
      ctx.log.warn(`failover by ${who}: '${result.vmName}' ${result.resumed ? 'resumed' : 'started'}`)
      return result
    },
  )
}
