// What the server tells admins besides its UI, built and started in one place: reports of runs
// (e-mail, webhooks) and the daily summary, the statistics charts draw (run bytes, repository usage
// samples) and the Prometheus metrics, with the separate metrics address when one is configured.
import type { ServerConfig } from './config.js'
import type { Db } from './db/database.js'
import type { JobStore } from './jobs/job-store.js'
import { Metrics } from './metrics/metrics.js'
import { listenForMetrics, type MetricsListener } from './metrics/metrics-listener.js'
import { DailySummaryTask } from './notifications/daily-summary.js'
import { NotificationStore } from './notifications/notification-store.js'
import { Notifier } from './notifications/notifier.js'
import type { WebhookLimits } from './notifications/webhook-sender.js'
import type { PoolConnections } from './pools/pool-connections.js'
import type { PoolStore } from './pools/pool-store.js'
import type { RepositoryService } from './repositories/repository-service.js'
import type { RepositoryStore } from './repositories/repository-store.js'
import type { RunBus } from './runs/run-bus.js'
import type { RunManager } from './runs/run-manager.js'
import type { Scheduler } from './scheduler/scheduler.js'
import type { SecretBox } from './secret-box.js'
import type { ServerLog } from './server-log.js'
import { RunRecorder } from './stats/run-recorder.js'
import { RunStatsStore } from './stats/run-stats-store.js'
import { UsageSampler } from './stats/usage-sampler.js'
import { UsageStore } from './stats/usage-store.js'
import { RunStore } from './runs/run-store.js'

export interface ReportingDeps {
  readonly db: Db
  readonly box: SecretBox
  readonly log: ServerLog
  readonly bus: RunBus
  readonly jobs: JobStore
  readonly runs: RunManager
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly scheduler: Scheduler
  readonly closing: AbortSignal
}

/** Tests make webhooks retry sooner and samples come sooner; production uses the defaults. */
export interface ReportingOptions {
  readonly webhookLimits?: WebhookLimits
  readonly sampleAfterRunMs?: number
}

export class Reporting {
  readonly notifications: NotificationStore
  readonly notifier: Notifier
  readonly daily: DailySummaryTask
  readonly stats: RunStatsStore
  readonly usage: UsageStore
  readonly sampler: UsageSampler
  readonly metrics: Metrics
  readonly #recorder: RunRecorder
  #listener: MetricsListener | undefined

  constructor(deps: ReportingDeps, options: ReportingOptions = {}) {
    const tree = (runId: string) => deps.runs.tree(runId)
    this.notifications = new NotificationStore(deps.db, deps.box)
    this.stats = new RunStatsStore(deps.db)
    this.usage = new UsageStore(deps.db)
    this.notifier = new Notifier({
      store: this.notifications,
      jobs: deps.jobs,
      tree,
      log: deps.log,
      ...(options.webhookLimits === undefined ? {} : { webhookLimits: options.webhookLimits }),
    })
    this.daily = new DailySummaryTask({
      store: this.notifications,
      jobs: deps.jobs,
      runs: new RunStore(deps.db),
      lastSuccess: async (jobId) => (await this.stats.lastSuccessByJob()).get(jobId),
      tree,
      notifier: this.notifier,
      log: deps.log,
    })
    this.sampler = new UsageSampler({
      repositories: deps.repositories,
      service: deps.repositoryService,
      usage: this.usage,
      log: deps.log,
      closing: deps.closing,
      ...(options.sampleAfterRunMs === undefined ? {} : { afterRunDelayMs: options.sampleAfterRunMs }),
    })
    this.#recorder = new RunRecorder({
      bus: deps.bus,
      stats: this.stats,
      tree,
      notifier: this.notifier,
      sampler: this.sampler,
      log: deps.log,
    })
    this.metrics = new Metrics({
      jobs: deps.jobs,
      runs: new RunStore(deps.db),
      stats: this.stats,
      usage: this.usage,
      repositories: deps.repositories,
      pools: deps.pools,
      connections: deps.connections,
      scheduler: deps.scheduler,
    })
  }

  /** The separate metrics address, when configured. */
  get metricsUrl(): string | undefined {
    return this.#listener?.url
  }

  /** The metrics address first: when it cannot be used, nothing else has started. */
  async start(config: ServerConfig, log: ServerLog): Promise<void> {
    if (config.metrics !== undefined)
      this.#listener = await listenForMetrics(config.metrics.listen, this.metrics, log)
    this.#recorder.start()
    this.sampler.start()
    await this.daily.reload()
  }

  /** Stops taking new work, then waits for the reports in flight (they are aborted). */
  async stop(): Promise<void> {
    this.#recorder.stop()
    this.sampler.stop()
    this.daily.stop()
    await this.notifier.close()
    await this.#listener?.close()
  }
}
