// The server's metrics in Prometheus' text format (prom-client, a registry of its own). Every value is
// read when scraped, from the database and the services' state; a scrape does no I/O on pools or
// repositories (repository usage is the last sample the usage sampler took). Cardinality is bounded by
// what exists: labels name jobs, their VMs, repositories and pools, never runs or times
// (docs/monitoring.md lists every metric).
//
// Hook for agents (docs/monitoring.md): a module that keeps state of its own registers its
// gauges on `registry` with a `collect()` that reads that state, e.g. `strata_agent_connected{agent}`.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunStore } from '../runs/run-store.js'
import type { RunStatsStore } from '../stats/run-stats-store.js'
import type { UsageStore } from '../stats/usage-store.js'

export interface MetricsDeps {
  readonly jobs: Pick<JobStore, 'list'>
  readonly runs: Pick<RunStore, 'pending'>
  readonly stats: RunStatsStore
  readonly usage: Pick<UsageStore, 'latest'>
  readonly repositories: Pick<RepositoryStore, 'list'>
  readonly pools: Pick<PoolStore, 'list'>
  readonly connections: Pick<PoolConnections, 'state'>
  readonly scheduler: { lagMs(): number }
}

const seconds = (ms: number) => ms / 1000

export class Metrics {
  readonly registry = new Registry()

  constructor(readonly deps: MetricsDeps) {
    collectDefaultMetrics({ register: this.registry })
    this.#runMetrics()
    this.#successMetrics()
    this.#repositoryMetrics()
    this.#serverMetrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** Jobs by id, with the label values their series carry. */
  async #jobLabels(): Promise<Map<string, { job_name: string; job_id: string }>> {
    return new Map((await this.deps.jobs.list()).map((j) => [j.id, { job_name: j.name, job_id: j.id }]))
  }

  #runMetrics(): void {
    const deps = this.deps
    const jobLabels = async () => await this.#jobLabels()
    const registers = [this.registry]
    new Counter({
      name: 'strata_runs_total',
      help: 'Finished runs of each job, by final state (success, failure, interrupted, skipped).',
      labelNames: ['job_name', 'job_id', 'state'],
      registers,
      async collect() {
        this.reset()
        const jobs = await jobLabels()
        for (const c of await deps.stats.runCounts()) {
          const job = jobs.get(c.jobId)
          if (job !== undefined) this.inc({ ...job, state: c.status }, c.count)
        }
      },
    })
    new Gauge({
      name: 'strata_runs_running',
      help: 'Runs in progress (backups and restores).',
      registers,
      async collect() {
        this.set((await deps.runs.pending()).length)
      },
    })
    const bytes = (name: string, help: string, pick: 'bytesRead' | 'bytesStored') =>
      new Counter({
        name,
        help,
        labelNames: ['job_name', 'job_id'],
        registers,
        async collect() {
          this.reset()
          const jobs = await jobLabels()
          for (const t of await deps.stats.byteTotals()) {
            const job = jobs.get(t.jobId)
            if (job !== undefined) this.inc(job, t[pick] ?? 0)
          }
        },
      })
    bytes('strata_backup_read_bytes_total', 'Bytes read from disks by the runs of each job.', 'bytesRead')
    bytes(
      'strata_backup_stored_bytes_total',
      'New bytes the runs of each job added to their repositories (after deduplication and compression).',
      'bytesStored',
    )
  }

  #successMetrics(): void {
    const deps = this.deps
    const jobLabels = async () => await this.#jobLabels()
    const registers = [this.registry]
    const perLastRun = (
      name: string,
      help: string,
      value: (r: { status: string; start: number; end: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['job_name', 'job_id'],
        registers,
        async collect() {
          this.reset()
          const jobs = await jobLabels()
          for (const r of await deps.stats.lastRuns()) {
            const job = jobs.get(r.jobId)
            if (job !== undefined) this.set(job, value(r))
          }
        },
      })
    perLastRun(
      'strata_job_last_run_timestamp_seconds',
      'When the last finished run of each job ended.',
      (r) => seconds(r.end),
    )
    perLastRun(
      'strata_job_last_run_duration_seconds',
      'How long the last finished run of each job took.',
      (r) => seconds(r.end - r.start),
    )
    perLastRun(
      'strata_job_last_run_failed',
      '1 when the last finished run of each job failed or was interrupted, else 0.',
      (r) => (r.status === 'failure' || r.status === 'interrupted' ? 1 : 0),
    )
    new Gauge({
      name: 'strata_job_last_success_timestamp_seconds',
      help: 'When the last successful run of each job ended (absent: never).',
      labelNames: ['job_name', 'job_id'],
      registers,
      async collect() {
        this.reset()
        const jobs = await jobLabels()
        for (const [jobId, time] of await deps.stats.lastSuccessByJob()) {
          const job = jobs.get(jobId)
          if (job !== undefined) this.set(job, seconds(time))
        }
      },
    })
    new Gauge({
      name: 'strata_vm_last_success_timestamp_seconds',
      help: 'When the run that last backed up each VM of each job successfully ended (absent: never).',
      labelNames: ['job_name', 'job_id', 'vm', 'vm_uuid'],
      registers,
      async collect() {
        this.reset()
        const jobs = await jobLabels()
        for (const v of await deps.stats.vmLastSuccess()) {
          const job = jobs.get(v.jobId)
          if (job !== undefined) this.set({ ...job, vm: v.vmName, vm_uuid: v.vmUuid }, seconds(v.time))
        }
      },
    })
  }

  #repositoryMetrics(): void {
    const deps = this.deps
    const registers = [this.registry]
    type Sample = Awaited<ReturnType<UsageStore['latest']>> extends Map<string, infer S> ? S : never
    const gauge = (name: string, help: string, value: (s: Sample) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['repository', 'repository_id'],
        registers,
        async collect() {
          this.reset()
          const latest = await deps.usage.latest()
          for (const repo of await deps.repositories.list()) {
            const sample = latest.get(repo.id)
            const v = sample === undefined ? undefined : value(sample)
            if (v !== undefined) this.set({ repository: repo.name, repository_id: repo.id }, v)
          }
        },
      })
    gauge(
      'strata_repository_stored_bytes',
      'Bytes of the chunks in each repository (last sample).',
      (s) => s.storedBytes,
    )
    gauge(
      'strata_repository_logical_bytes',
      "The disks of each repository's restore points, added up (last sample).",
      (s) => s.logicalBytes,
    )
    gauge('strata_repository_chunks', 'Chunks in each repository (last sample).', (s) => s.chunks)
    gauge('strata_repository_points', 'Restore points in each repository (last sample).', (s) => s.points)
    gauge(
      'strata_repository_dedup_ratio',
      'Logical bytes over stored bytes of each repository (deduplication and compression; last sample).',
      (s) => (s.storedBytes > 0 ? s.logicalBytes / s.storedBytes : undefined),
    )
    gauge('strata_repository_sample_timestamp_seconds', 'When each repository was last measured.', (s) =>
      seconds(s.time),
    )
  }

  #serverMetrics(): void {
    const deps = this.deps
    const registers = [this.registry]
    new Gauge({
      name: 'strata_pool_connected',
      help: "1 while the server's connection to each pool is up, else 0.",
      labelNames: ['pool', 'pool_id'],
      registers,
      async collect() {
        this.reset()
        for (const pool of await deps.pools.list())
          this.set({ pool: pool.name, pool_id: pool.id }, deps.connections.state(pool.id).connected ? 1 : 0)
      },
    })
    new Gauge({
      name: 'strata_scheduler_lag_seconds',
      help: 'How late the scheduler fired the last due schedule, or how long one is overdue now if more.',
      registers,
      collect() {
        this.set(seconds(deps.scheduler.lagMs()))
      },
    })
  }
}
