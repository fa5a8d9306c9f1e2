// What the UI's charts draw: finished runs of jobs with durations and bytes, and each repository's
// stored and logical bytes over time (docs/monitoring.md, "Charts in the UI"). Bounded: at most a year back, 5000
// runs, a few hundred samples per repository.
import type { FastifyInstance } from 'fastify'
import { RunStatsQuery, STATS_MAX_DAYS, UsageQuery, type RunStat, type UsageSeries } from '@strata/contract'
import { invalid, notFound } from '../errors.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunStatsStore } from '../stats/run-stats-store.js'
import type { UsageStore } from '../stats/usage-store.js'

/** What the statistics routes are given. */
export interface StatsRouteServices {
  readonly stats: RunStatsStore
  readonly usage: UsageStore
  readonly repositories: RepositoryStore
}

const DAY_MS = 86_400_000

function since(days: string | undefined, fallback: number): number {
  const n = days === undefined ? fallback : Number(days)
  if (n > STATS_MAX_DAYS) throw invalid(`days: at most ${STATS_MAX_DAYS}`, 'querystring/days')
  return Date.now() - n * DAY_MS
}

export function statsRoutes(app: FastifyInstance, ctx: StatsRouteServices): void {
  const { stats, usage } = ctx

  app.get<{ Querystring: RunStatsQuery }>(
    '/api/stats/runs',
    { schema: { tags: ['stats'], querystring: RunStatsQuery } },
    async (request): Promise<RunStat[]> =>
      stats.runs({ since: since(request.query.days, 28), jobId: request.query.job }),
  )

  app.get<{ Querystring: UsageQuery }>(
    '/api/stats/usage',
    { schema: { tags: ['stats'], querystring: UsageQuery } },
    async (request): Promise<UsageSeries[]> => {
      const from = since(request.query.days, 90)
      const wanted = request.query.repository
      const repositories = (await ctx.repositories.list()).filter(
        (r) => wanted === undefined || r.id === wanted,
      )
      if (wanted !== undefined && repositories.length === 0) throw notFound(`repository '${wanted}'`)
      return Promise.all(
        repositories.map(async (r) => ({
          repositoryId: r.id,
          name: r.name,
          samples: await usage.list(r.id, from),
        })),
      )
    },
  )
}
