// The job as the API and the database hold it (docs/api.md), and its translation to the engine's job
// (docs/jobs.md): pools and repositories by server id, secrets added only when a run starts. The
// engine's parseJob is the one validator of what a job means; the route schemas check only shapes.
import { parseJob, type Job } from '@strata/core/engine'

export interface ApiRetention {
  readonly keep?: number
  readonly daily?: number
  readonly weekly?: number
  readonly monthly?: number
  readonly yearly?: number
}

export interface ApiSchedule {
  readonly id: string
  readonly name?: string
  readonly cron: string
  readonly timezone: string
  readonly enabled: boolean
  readonly retention?: ApiRetention
  readonly forceFull?: boolean
}

export interface ApiSmart {
  readonly pools: string[]
  readonly tags: string[]
  readonly powerState?: 'Running' | 'Halted'
  readonly excludeTags: string[]
  readonly excludeUuids: string[]
}

export interface ApiJob {
  readonly id: string
  readonly name: string
  readonly enabled: boolean
  readonly mode: 'delta' | 'full'
  readonly vms: { readonly uuids?: string[]; readonly smart?: ApiSmart }
  readonly repositories: string[]
  readonly settings: Record<string, unknown>
  readonly schedules: ApiSchedule[]
}

export interface EnginePool {
  readonly id: string
  readonly url: string
  readonly username: string
  readonly password?: string
  readonly fingerprint?: string
  readonly insecureHttp?: boolean
}

export interface EngineRepository {
  readonly id: string
  readonly location: string
}

/** The pools a run of this job connects to: the smart rules' pools, else every pool of the server. */
export function jobPools(job: Pick<ApiJob, 'vms'>, all: readonly string[]): string[] {
  const named = job.vms.smart?.pools ?? []
  return named.length > 0 ? named : [...all]
}

export function toEngineJob(
  job: ApiJob,
  pools: readonly EnginePool[],
  repositories: readonly EngineRepository[],
): Job {
  const smart = job.vms.smart
  return parseJob(
    {
      id: job.id,
      name: job.name,
      pools: pools.map((p) => ({
        id: p.id,
        url: p.url,
        user: p.username,
        ...(p.password === undefined ? {} : { password: p.password }),
        ...(p.fingerprint === undefined ? {} : { fingerprint: p.fingerprint }),
        ...(p.insecureHttp === true ? { insecureHttp: true } : {}),
      })),
      repositories: repositories.map((r) => ({ name: r.id, location: r.location })),
      vms:
        smart === undefined
          ? (job.vms.uuids ?? [])
          : {
              pools: smart.pools,
              tags: smart.tags,
              ...(smart.powerState === undefined ? {} : { powerState: smart.powerState }),
              excludeVms: smart.excludeUuids,
              excludeTags: smart.excludeTags,
            },
      settings: { ...job.settings, mode: job.mode },
      schedules: job.schedules.map(toEngineSchedule),
    },
    `job '${job.name}'`,
  )
}

function toEngineSchedule(s: ApiSchedule): Record<string, unknown> {
  const r = s.retention ?? {}
  const retention = {
    keepLast: r.keep,
    daily: r.daily,
    weekly: r.weekly,
    monthly: r.monthly,
    yearly: r.yearly,
  }
  const kept = Object.values(retention).some((n) => (n ?? 0) > 0)
  return {
    id: s.id,
    ...(s.name === undefined ? {} : { name: s.name }),
    cron: s.cron,
    timezone: s.timezone,
    ...(kept
      ? { retention: Object.fromEntries(Object.entries(retention).filter(([, n]) => (n ?? 0) > 0)) }
      : {}),
    // A forced full is a full every run of this schedule (the engine's fullInterval of 1).
    ...(s.forceFull === true ? { fullInterval: 1 } : {}),
  }
}
