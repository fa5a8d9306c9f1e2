// Runs of jobs through the engine: each in its own worker process (runJobInWorker), with the engine's
// run log as the record of its task tree. The server adds what the engine leaves to its caller: the
// index of runs in the database, live events for the browser, and the rule that a job never runs twice
// at once in this server (the engine's job lock covers other processes). Secrets reach the worker
// through the IPC message and its environment, never its command line.
import { join } from 'node:path'
import {
  formatRunReport,
  runJobInWorker,
  slotSecrets,
  type Job,
  type TaskEvent,
  type TaskNode,
} from '@strata/core/engine'
import { errorCode, errorMessage } from '@strata/core'
import { conflict, invalid, notFound } from '../errors.js'
import type { ApiJob } from '../jobs/job-model.js'
import { jobPools, jobRepositories, toEngineJob } from '../jobs/job-model.js'
import type { JobStore } from '../jobs/job-store.js'
import type { PoolStore } from '../pools/pool-store.js'
import { nasMountEnv } from '../repositories/nas-mounts.js'
import { secretsEnv, type RepositoryStore } from '../repositories/repository-store.js'
import { OTHER_RUN, type Coordinator } from '../cluster/coordinator.js'
import type { ServerLog } from '../server-log.js'
import type { RunBus } from './run-bus.js'
import { runOutcome } from './run-names.js'
import { RunEventLog } from './run-event-log.js'
import { runTree } from './run-tree.js'
import { recoverInterrupted } from './run-recovery.js'
import type { RunDetails, RunRow, RunStatus, RunStore } from './run-store.js'

/** The schedule tick a run is for: a run on an agent carries it (the agent runs each tick once). */
type ScheduleTick = { readonly jobId: string; readonly at: number }

export interface RunManagerDeps {
  readonly engineDir: string
  readonly runs: RunStore
  readonly bus: RunBus
  readonly jobs: JobStore
  readonly pools: PoolStore
  readonly repositories: RepositoryStore
  readonly log: ServerLog
  /** The tag restores give VMs (the server's setting), which smart selections leave out. */
  readonly restoredTag?: () => Promise<string>
  /** The server's data directory, under which a worker mounts NAS remotes (nas-mounts.ts). */
  readonly nasHome?: string
  /** This server's id on the health-check VMs its runs create (health-sweep.ts). */
  readonly healthCheckOwner?: string
  /** What a metadata job stores of the server itself (metadata/config-export.ts), made at each run. */
  readonly configFiles?: () => Promise<{
    files: { name: string; data: Uint8Array }[]
    info: Record<string, unknown>
  }>
  /** In a cluster: the lease that makes this instance a run's one host (cluster/coordinator.ts). */
  readonly coordinator?: Pick<Coordinator, 'claimRun' | 'releaseRun' | 'liveRuns'>
  /** Where a job runs when not in this server's workers: its pools' agent (agents/agent-hub.ts). */
  readonly remote?: (
    job: Job,
    tick?: ScheduleTick,
  ) => Promise<((o: Parameters<typeof runJobInWorker>[0]) => ReturnType<typeof runJobInWorker>) | undefined>
}

export class RunManager {
  readonly #running = new Map<
    string,
    { runId: string; controller: AbortController; done: Promise<unknown> }
  >()
  readonly #stopping = new AbortController()
  /** Runs other than jobs' (restores), awaited when the server stops. */
  readonly #others = new Set<Promise<unknown>>()
  /** The error of each running run's root task, for its summary. */
  readonly #rootErrors = new Map<string, { code: string; message: string }>()
  /** Each run's records being written (#record). */
  readonly #writes = new Map<string, Promise<void>>()
  /** Runs' task events in a shared store (PostgreSQL), for every instance to read; none with SQLite. */
  readonly #events: RunEventLog | undefined

  /** Settles once the runs a stopped server left pending are ended (start-up awaits it). */
  readonly recovered: Promise<void>

  constructor(readonly deps: RunManagerDeps) {
    const { db } = deps.runs
    this.#events = db.dialect === 'postgres' ? new RunEventLog(db, deps.log) : undefined
    this.recovered = recoverInterrupted(deps.runs, this.runsDir, deps.coordinator).catch((error: unknown) =>
      deps.log.error(`could not end the runs a stopped server left pending: ${errorMessage(error)}`),
    )
  }

  /** The engine's data directory of this server: runs/ (logs), locks/, state/. */
  get engineDir(): string {
    return this.deps.engineDir
  }

  get runsDir(): string {
    return join(this.deps.engineDir, 'runs')
  }

  isRunning(jobId: string): boolean {
    return this.#running.has(jobId)
  }

  /** Starts a run of a job (`dueAt`: the schedule's tick it is for); resolves with its id once forked. */
  async startJob(job: ApiJob, scheduleId?: string, dueAt?: number): Promise<string> {
    if (this.#stopping.signal.aborted) throw conflict('the server is stopping', 'SERVER_STOPPING')
    if (this.#running.has(job.id)) throw conflict(`job '${job.name}' is running already`, 'JOB_RUNNING')
    if (scheduleId !== undefined && !job.schedules.some((s) => s.id === scheduleId))
      throw notFound(`schedule '${scheduleId}' of job '${job.name}'`)
    // The job is taken before the first await: a second start meanwhile is refused.
    const controller = new AbortController()
    const entry = { runId: '', controller, done: Promise.resolve() as Promise<unknown> }
    this.#running.set(job.id, entry)
    try {
      // In an object: a promise resolved with a promise would wait for the run.
      const tick = dueAt === undefined ? undefined : { jobId: job.id, at: dueAt }
      const started = (id: string): void => void (entry.runId = id)
      ;({ done: entry.done } = await this.#launch(job, scheduleId, controller, started, tick))
    } catch (error) {
      this.#running.delete(job.id)
      throw error
    }
    return entry.runId
  }

  async #launch(
    job: ApiJob,
    scheduleId: string | undefined,
    controller: AbortController,
    started: (runId: string) => void,
    tick?: ScheduleTick,
  ): Promise<{ done: Promise<unknown> }> {
    const { engineJob, env } = await this.engineJob(job)
    const names = await this.#names(engineJob)
    const run = (await this.deps.remote?.(engineJob, tick)) ?? runJobInWorker
    let runId = ''
    const own = job.kind === 'metadata' ? await this.deps.configFiles?.() : undefined
    const done = run({
      job: engineJob,
      scheduleId,
      ...(own === undefined ? {} : { configFiles: own.files, configInfo: own.info }),
      dataDir: this.deps.engineDir,
      signal: controller.signal,
      env,
      killAfterMs: 30_000,
      onStart: (info) => {
        runId = info.runId
        started(runId)
        const run = { runId, jobId: job.id, jobName: job.name, kind: job.kind, scheduleId }
        const row = { ...run, status: 'pending' as const, start: Date.now(), warnings: 0 }
        void this.#record(runId, () => this.#begin(row, { names }))
        this.#claim({ runId, jobId: job.id, scheduleId }, controller)
      },
      onEvent: (event) => this.onEvent(runId, event),
    }).then(
      (result) =>
        this.#record(runId, async () => {
          await this.deps.runs.addDetails(runId, runOutcome(result, names))
          await this.#settle(job.id, runId, result.status, this.#rootErrors.get(runId))
        }),
      (error: unknown) =>
        this.#record(runId, () =>
          this.#settle(job.id, runId, 'failure', { code: errorCode(error), message: errorMessage(error) }),
        ),
    )
    return { done }
  }

  /** The engine job with secrets: pool passwords in the job (IPC), repository secrets in the env. */
  async engineJob(
    job: ApiJob,
  ): Promise<{ engineJob: ReturnType<typeof toEngineJob>; env: Record<string, string> }> {
    const { pools, repositories } = this.deps
    const poolIds = jobPools(
      job,
      (await pools.list()).map((p) => p.id),
    )
    const enginePools = await Promise.all(
      poolIds.map(async (id) => ({ ...(await pools.get(id)), password: await pools.password(id) })),
    )
    const { nasHome, healthCheckOwner } = this.deps
    const env: Record<string, string> = nasHome === undefined ? {} : nasMountEnv(nasHome)
    // The health checks of this server's runs carry its id: the ones a stop cut short are swept at start.
    if (healthCheckOwner !== undefined) env.STRATA_HEALTH_CHECK_OWNER = healthCheckOwner
    if (job.kind === 'mirror') return this.#mirrorJob(job, env)
    for (const id of job.repositories) {
      // The worker takes one passphrase and one set of S3 keys (docs/api.md): they must agree.
      for (const [key, value] of Object.entries(secretsEnv(await repositories.secrets(id)))) {
        if (env[key] !== undefined && env[key] !== value)
          throw invalid(
            `the repositories of job '${job.name}' need different ${key}; one job takes one`,
            'body/repositories',
          )
        env[key] = value
      }
    }
    const engineRepos = await Promise.all(job.repositories.map((id) => repositories.get(id)))
    return { engineJob: await this.#withServerSettings(toEngineJob(job, enginePools, engineRepos)), env }
  }

  /**
   * A mirror's repositories each open with their own secrets (the source in slot 0, the targets from 1:
   * worker-secrets.ts), so that plain, encrypted and differently keyed ones mix in one run.
   */
  async #mirrorJob(job: ApiJob, base: Record<string, string>): ReturnType<RunManager['engineJob']> {
    const { repositories } = this.deps
    const ids = jobRepositories(job)
    const env = { ...base }
    for (const [slot, id] of ids.entries())
      Object.assign(env, slotSecrets(slot, await repositories.secrets(id)))
    const engineJob = toEngineJob(
      job,
      [],
      await Promise.all(job.repositories.map((id) => repositories.get(id))),
      await Promise.all((job.mirrorTo ?? []).map((id) => repositories.get(id))),
    )
    return { engineJob, env }
  }

  /** What the server adds to a validated job: pool names for messages, its restored-VM tag. */
  async #withServerSettings(job: Job): Promise<Job> {
    const pools = await Promise.all(
      job.pools.map(async (p) => ({ ...p, name: (await this.deps.pools.get(p.id)).name })),
    )
    const tag = await this.deps.restoredTag?.()
    const vms = job.vms.kind === 'smart' && tag !== undefined ? { ...job.vms, restoredTag: tag } : job.vms
    return { ...job, pools, vms }
  }

  /** Ids in the run's tree → names, as they are now (kept with the run). */
  async #names(job: Job): Promise<NonNullable<RunDetails['names']>> {
    const names = (ids: [string, string][]) => Object.fromEntries(ids)
    const repositories = await Promise.all(
      [...job.repositories, ...job.mirrorTo].map(async (r): Promise<[string, string]> => [
        r.name,
        (await this.deps.repositories.get(r.name)).name,
      ]),
    )
    return { pools: names(job.pools.map((p) => [p.id, p.name ?? p.id])), repositories: names(repositories) }
  }

  /** A run another instance holds the lease of now (it presumed this one dead): stop it here. */
  /** A run a dead instance held (cluster/): its record, pending on a shared store, ends interrupted. */
  async endOrphan(runId: string, owner: string): Promise<void> {
    const row = await this.deps.runs.get(runId)
    if (row?.status !== 'pending') return
    await this.deps.runs.end(runId, 'interrupted', Date.now(), {
      code: 'SERVER_STOPPED',
      message: `server instance '${owner}' stopped during the run`,
    })
  }

  abortRun(runId: string, reason: Error): boolean {
    const entry = [...this.#running.values()].find((r) => r.runId === runId)
    entry?.controller.abort(reason)
    return entry !== undefined
  }

  /** In a cluster, the run is this instance's; refused (the job runs elsewhere), it stops at once. */
  #claim(run: { runId: string; jobId: string; scheduleId?: string }, controller: AbortController): void {
    this.deps.coordinator?.claimRun(run).catch((error: unknown) => {
      this.deps.log.error(`run ${run.runId} stopped: ${errorMessage(error)}`)
      controller.abort(error)
    })
  }

  /** Publishes one task event of a run (from its worker) at once; its record follows, in order. */
  onEvent(runId: string, event: TaskEvent): void {
    if (event.type === 'warning') void this.#record(runId, () => this.deps.runs.addWarning(runId))
    if (event.type === 'end' && event.id === '0' && event.error !== undefined)
      this.#rootErrors.set(runId, event.error)
    this.#events?.append(runId, event)
    this.deps.bus.emit('task', { runId, event })
  }

  /** A run of something other than a job (a restore), which the caller drives. */
  beginOther(run: Omit<RunRow, 'status' | 'warnings'>, details: RunDetails = {}): Promise<void> {
    // Leased like a job's run, so that another instance ends it interrupted if this one dies.
    this.deps.coordinator
      ?.claimRun({ runId: run.runId, jobId: `${OTHER_RUN}${run.runId}` })
      .catch((e: unknown) => this.deps.log.warn(`run ${run.runId}: ${errorMessage(e)}`))
    return this.#record(run.runId, () => this.#begin({ ...run, status: 'pending', warnings: 0 }, details))
  }

  /** Keeps a run of the caller's until it settles, so that stopAll waits for its undo. */
  track(done: Promise<unknown>): void {
    const settled = done.catch(() => undefined).finally(() => this.#others.delete(settled))
    this.#others.add(settled)
  }

  async endOther(
    runId: string,
    status: RunStatus,
    error?: { code: string; message: string },
    details?: RunDetails,
  ): Promise<void> {
    return this.#record(runId, async () => {
      if (details !== undefined) await this.deps.runs.addDetails(runId, details)
      this.#release(runId, status)
      await this.#finish(runId, status, error)
    })
  }

  /**
   * Writes one run's records in order (its row before a warning counts on it, its end last), without
   * holding up the events: a failed write is logged (the run goes on; its log stays the truth).
   */
  #record(runId: string, write: () => Promise<void>): Promise<void> {
    const next = (this.#writes.get(runId) ?? Promise.resolve()).then(write).catch((error: unknown) => {
      this.deps.log.error(`could not record run ${runId}: ${errorMessage(error)}`)
    })
    this.#writes.set(runId, next)
    void next.then(() => {
      if (this.#writes.get(runId) === next) this.#writes.delete(runId)
    })
    return next
  }

  list(filter: Parameters<RunStore['list']>[0]): Promise<RunRow[]> {
    return this.deps.runs.list(filter)
  }

  get(runId: string): Promise<RunRow | undefined> {
    return this.deps.runs.get(runId)
  }

  /** The run's task tree, with names where the log holds the server's ids (run-tree.ts). */
  async tree(runId: string): Promise<TaskNode> {
    const row = await this.deps.runs.get(runId)
    if (row === undefined) throw notFound(`run '${runId}'`)
    return runTree({ runsDir: this.runsDir, runs: this.deps.runs, events: this.#events }, row)
  }

  /** The run as plain text (docs/api.md: GET /api/runs/:runId/report). */
  async report(runId: string): Promise<string> {
    return formatRunReport(await this.tree(runId))
  }

  /** Stops every run (their workers undo their side effects) and waits for them. */
  async stopAll(): Promise<void> {
    this.#stopping.abort()
    const running = [...this.#running.values()]
    for (const r of running) r.controller.abort(new Error('the server is stopping'))
    await Promise.all([...running.map((r) => r.done.catch(() => undefined)), ...this.#others])
    // The records, before the database closes.
    await Promise.all([this.recovered, ...this.#writes.values(), this.#events?.settled()])
  }

  async #begin(run: RunRow, details: RunDetails): Promise<void> {
    await this.deps.runs.insert(run, details)
    this.deps.log.write('info', `run ${run.runId} of ${run.kind} '${run.jobName}' started`, 'strata-run')
    this.deps.bus.emit('run', (await this.deps.runs.get(run.runId))!)
  }

  /** The job is free again before its end is published, so that whoever sees the end may run it. */
  async #settle(
    jobId: string,
    runId: string,
    status: RunStatus,
    error?: { code: string; message: string },
  ): Promise<void> {
    this.#running.delete(jobId)
    this.#release(runId, status)
    await this.#finish(runId, status, error)
  }

  #release(runId: string, status: RunStatus): void {
    this.deps.coordinator
      ?.releaseRun(runId, status)
      .catch((e: unknown) => this.deps.log.warn(`run ${runId}: ${errorMessage(e)}`))
  }

  async #finish(runId: string, status: RunStatus, error?: { code: string; message: string }): Promise<void> {
    this.#rootErrors.delete(runId)
    await this.deps.runs.end(runId, status, Date.now(), error)
    const row = await this.deps.runs.get(runId)
    if (row === undefined) return
    const why = error === undefined ? '' : `: ${error.message}`
    this.deps.log.write(
      status === 'success' ? 'info' : 'error',
      `run ${runId} of '${row.jobName}' ended ${status}${why}`,
      'strata-run',
    )
    this.deps.bus.emit('run', row)
  }
}
