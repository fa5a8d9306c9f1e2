// The job as the API and the database hold it (@strata/contract's StoredJob, docs/api.md), and its
// translation to the engine's job (docs/jobs.md): pools and repositories by server id, secrets added only
// when a run starts. The contract's validator is the one judge of what a job means, here and everywhere.
import type { Schedule, StoredJob, VmSelection } from '@strata/contract'
import { parseJob, type Job } from '@strata/core/engine'

export type ApiJob = StoredJob
export type ApiSchedule = Schedule

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

/**
 * The pools a run of this job connects to: the smart rules' pools, else every pool of the server; and
 * the pools of a replication's target SRs. A mirror copies between repositories: no pool.
 */
export function jobPools(
  job: {
    readonly kind?: string
    readonly vms: VmSelection
    readonly targets?: readonly { readonly pool: string }[]
  },
  all: readonly string[],
): string[] {
  if (job.kind === 'mirror') return []
  const named = 'smart' in job.vms ? (job.vms.smart.pools ?? []) : []
  if (named.length === 0) return [...all]
  const targets = (job.targets ?? []).map((t) => t.pool).filter((id) => !named.includes(id))
  return [...named, ...new Set(targets)]
}

/** Every repository a job's runs open: its own, and a mirror's targets. */
export function jobRepositories(job: Pick<ApiJob, 'repositories' | 'mirrorTo'>): string[] {
  return [...job.repositories, ...(job.mirrorTo ?? [])]
}

export function toEngineJob(
  job: ApiJob,
  pools: readonly EnginePool[],
  repositories: readonly EngineRepository[],
  mirrorTo: readonly EngineRepository[] = [],
): Job {
  return parseJob(
    {
      id: job.id,
      name: job.name,
      kind: job.kind,
      pools: pools.map((p) => ({
        id: p.id,
        url: p.url,
        user: p.username,
        ...(p.password === undefined ? {} : { password: p.password }),
        ...(p.fingerprint === undefined ? {} : { fingerprint: p.fingerprint }),
        ...(p.insecureHttp === true ? { insecureHttp: true } : {}),
      })),
      repositories: repositories.map((r) => ({ name: r.id, location: r.location })),
      ...(job.kind === 'replication' ? { targets: job.targets } : {}),
      ...(job.kind === 'mirror'
        ? { mirrorTo: mirrorTo.map((r) => ({ name: r.id, location: r.location })) }
        : {}),
      vms: 'smart' in job.vms ? job.vms.smart : job.vms.uuids,
      settings: job.settings,
      schedules: job.schedules.map(toEngineSchedule),
    },
    `job '${job.name}'`,
  )
}

function toEngineSchedule(s: ApiSchedule): Record<string, unknown> {
  // A policy that keeps nothing of any kind is no policy: every point is kept.
  const kept = Object.entries(s.retention ?? {}).filter(([, n]) => (n ?? 0) > 0)
  return {
    id: s.id,
    ...(s.name === undefined ? {} : { name: s.name }),
    cron: s.cron,
    timezone: s.timezone,
    ...(kept.length > 0 ? { retention: Object.fromEntries(kept) } : {}),
    // A forced full is a full every run of this schedule (the engine's fullInterval of 1).
    ...(s.forceFull ? { fullInterval: 1 } : {}),
    ...(s.healthCheck === undefined ? {} : { healthCheck: s.healthCheck }),
  }
}
