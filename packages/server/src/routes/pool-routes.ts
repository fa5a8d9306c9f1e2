// Pools: CRUD (admin), their live state and their objects from the event cache. A pool is trusted by the
// certificate fingerprint an admin accepted: the probe (or a create without one) shows what the host
// presents; an http:// URL needs insecureHttp. A new URL is checked as a new pool is (its password and
// the new host's fingerprint come with it).
import type { FastifyInstance } from 'fastify'
import { parseFingerprint, type XapiRecord } from '@strata/core/xapi'
import { ApiError, conflict } from '../errors.js'
import { PoolInput as PoolBody, PoolObjectsQuery, PoolPatch, PoolProbeInput } from '@strata/contract'
import { checkPoolTrust, insecureHttp as insecureHttpError, probePool } from '../pools/pool-trust-check.js'
import { computeCoverage, isGuest } from '../pools/coverage.js'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { RunManager } from '../runs/run-manager.js'
import type { Settings } from '../settings.js'
import { normalizeUrl, type PoolInput, type PoolRecord, type PoolStore } from '../pools/pool-store.js'
import type { ServerLog } from '../server-log.js'
import { idParams } from './schemas.js'

const TYPES = { VM: 'vm', SR: 'sr', network: 'network', host: 'host' } as const

/** What the pool routes are given. */
export interface PoolRouteServices {
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly jobs: JobStore
  /** The coverage names each VM's last backup run. */
  readonly runs: RunManager
  /** The restored-VM tag that coverage leaves out of smart selections. */
  readonly settings: Settings
  readonly log: ServerLog
  /** Aborted when the server stops (probes of a host end). */
  readonly closing: AbortSignal
}

export function poolRoutes(app: FastifyInstance, ctx: PoolRouteServices): void {
  const { pools, connections } = ctx
  const view = (p: PoolRecord) => ({ ...p, ...connections.state(p.id) })

  app.get('/api/pools', { schema: { tags: ['pools'] } }, async () => (await pools.list()).map(view))

  // Each VM of each pool with the jobs that select it now and its last backup run.
  app.get('/api/coverage', { schema: { tags: ['pools'] } }, async () => ({
    pools: computeCoverage({
      pools: (await pools.list()).map((p) => ({
        id: p.id,
        name: p.name,
        cache: connections.cache(p.id),
        ...error(p.id),
      })),
      jobs: await ctx.jobs.list(),
      restoredTag: await ctx.settings.restoreTag(),
      runs: await ctx.runs.list({ limit: 1000 }),
    }),
  }))
  const error = (id: string) => {
    const reason = connections.state(id).error
    return reason === undefined ? {} : { error: reason }
  }

  app.get<{ Params: { id: string } }>(
    '/api/pools/:id',
    { schema: { tags: ['pools'], params: idParams } },
    async (r) => view(await pools.get(r.params.id)),
  )

  app.post<{ Body: { url: string } }>(
    '/api/pools/probe',
    { schema: { tags: ['pools'], body: PoolProbeInput } },
    async (request) => probePool(request.body.url, ctx.closing),
  )

  app.post<{ Body: PoolInput }>(
    '/api/pools',
    { schema: { tags: ['pools'], body: PoolBody } },
    async (request, reply) => {
      const pool = await pools.create({
        ...request.body,
        ...(await checkPoolTrust(request.body, ctx.closing)),
      })
      await connections.connect(pool, request.body.password)
      await connections.settle(pool.id, 5000)
      ctx.log.info(`pool '${pool.name}' added by ${request.user?.username}`)
      return reply.status(201).send(view(pool))
    },
  )

  app.patch<{ Params: { id: string }; Body: Partial<PoolInput> }>(
    '/api/pools/:id',
    { schema: { tags: ['pools'], params: idParams, body: PoolPatch } },
    async (request) => {
      const before = await pools.get(request.params.id)
      await pools.checkUpdate(before.id, request.body)
      const { url: u, username, password, fingerprint, insecureHttp } = request.body
      const trust = await trustChange(before, request.body, ctx.closing)
      const pool = await pools.update(request.params.id, { ...request.body, ...trust })
      if (trust.fingerprint !== undefined && trust.fingerprint !== before.fingerprint)
        ctx.log.info(
          `pool '${pool.name}': certificate ${trust.fingerprint} accepted by ${request.user?.username} (was ${before.fingerprint ?? 'none'})`,
        )
      const changed = [u, username, password, fingerprint, insecureHttp].some((v) => v !== undefined)
      if (changed) {
        await connections.connect(pool, await pools.password(pool.id))
        await connections.settle(pool.id, 5000)
      }
      return view(pool)
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/pools/:id',
    { schema: { tags: ['pools'], params: idParams } },
    async (request, reply) => {
      const { id } = request.params
      await pools.get(id)
      const users = (await ctx.jobs.list()).filter((j) => 'smart' in j.vms && j.vms.smart.pools.includes(id))
      if (users.length > 0) throw conflict(`pool '${id}' is used by job '${users[0]!.name}'`)
      await connections.disconnect(id)
      await pools.delete(id)
      return reply.status(204).send()
    },
  )

  app.get<{ Params: { id: string }; Querystring: { type: keyof typeof TYPES } }>(
    '/api/pools/:id/objects',
    {
      schema: {
        tags: ['pools'],
        params: idParams,
        querystring: PoolObjectsQuery,
      },
    },
    async (request) => {
      const pool = await pools.get(request.params.id)
      const cache = connections.cache(pool.id)
      if (cache === undefined)
        throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${pool.name}' is not connected`, {
          reason: connections.state(pool.id).error,
        })
      const records = [...cache.all(TYPES[request.query.type]).values()]
      return records.filter((r) => request.query.type !== 'VM' || isGuest(r)).map(summarize)
    },
  )
}

/**
 * The trust settings after a PATCH: plain HTTP still needs the permission; a fingerprint is normalized.
 * A new URL is checked as a new pool is: the old host's pin does not carry over (the store drops it).
 */
async function trustChange(
  before: PoolRecord,
  change: Partial<PoolInput>,
  closing: AbortSignal,
): Promise<Partial<PoolInput>> {
  const url = change.url ?? before.url
  const insecureHttp = change.insecureHttp ?? before.insecureHttp
  if (normalizeUrl(url) !== before.url) {
    const fingerprint = change.fingerprint === undefined ? {} : { fingerprint: change.fingerprint }
    return checkPoolTrust({ url, insecureHttp, ...fingerprint }, closing)
  }
  if (url.startsWith('http:') && !insecureHttp) throw insecureHttpError(url)
  return change.fingerprint === undefined ? {} : { fingerprint: parseFingerprint(change.fingerprint) }
}

function summarize(r: XapiRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { uuid: r.uuid, name_label: r.name_label }
  for (const key of [
    'name_description',
    'power_state',
    'tags',
    'physical_size',
    'physical_utilisation',
    'type',
    'content_type',
    'bridge',
    'address',
  ]) {
    if (r[key] !== undefined) out[key] = r[key]
  }
  return out
}
