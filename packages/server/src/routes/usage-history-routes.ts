// A repository's usage over time and its last maintenance (docs/api.md): what the repository view charts.
// Bounded: at most a year back, a few hundred samples (usage-store.ts).
import type { FastifyInstance } from 'fastify'
import { IdParams, UsageHistoryQuery, type UsageHistory } from '@strata/contract'
import { anySignal } from '@strata/core'
import { invalid } from '../errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from '../runs/run-manager.js'
import { lastMaintenance, withRatios } from '../stats/usage-history.js'
import type { UsageStore } from '../stats/usage-store.js'

export interface UsageHistoryRouteServices {
  readonly repositories: RepositoryStore
  readonly repositoryService: Pick<RepositoryService, 'open'>
  readonly usage: UsageStore
  readonly runs: Pick<RunManager, 'list'>
  readonly closing: AbortSignal
}

const DAY_MS = 86_400_000
const MAX_DAYS = 366
/** An unreachable repository costs the request this long at most; its ratios are then unknown. */
const OPEN_TIMEOUT_MS = 10_000
/** Enough of a repository's maintenance runs to hold each task's newest (gc daily, verify weekly). */
const MAINTENANCE_RUNS = 500

export function usageHistoryRoutes(app: FastifyInstance, ctx: UsageHistoryRouteServices): void {
  app.get<{ Params: { id: string }; Querystring: UsageHistoryQuery }>(
    '/api/repositories/:id/usage-history',
    { schema: { tags: ['repositories'], params: IdParams, querystring: UsageHistoryQuery } },
    async (request): Promise<UsageHistory> => {
      const repo = await ctx.repositories.get(request.params.id)
      const days = Number(request.query.days ?? 90)
      if (days > MAX_DAYS) throw invalid(`days: at most ${MAX_DAYS}`, 'querystring/days')
      const chunkSize = await ctx.repositoryService
        .open(repo.id, anySignal(ctx.closing, AbortSignal.timeout(OPEN_TIMEOUT_MS)))
        .then(
          (opened) => opened.chunkSize,
          () => null,
        )
      const runs = await ctx.runs.list({ jobId: `maintenance:${repo.id}`, limit: MAINTENANCE_RUNS })
      return {
        repositoryId: repo.id,
        name: repo.name,
        chunkSize,
        samples: withRatios(await ctx.usage.list(repo.id, Date.now() - days * DAY_MS), chunkSize),
        maintenance: lastMaintenance(runs),
      }
    },
  )
}
