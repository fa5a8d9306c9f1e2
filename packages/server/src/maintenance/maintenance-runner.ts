// Runs repositories' maintenance as runs of kind 'maintenance', logged and listed like backup runs: on
// request (the API) and when due by each repository's schedule (a timer). A task runs once at a time per
// repository; backups never wait for it (gc is lock-free), and it runs in the server process, reading
// with bounded memory (gc's mark set, verify's reads in flight).
import {
  makeRunId,
  openRunLog,
  runRootTask,
  statusOf,
  toTaskError,
  type TaskEvent,
} from '@strata/core/engine'
import type { MaintenanceSchedule, MaintenanceTask } from '@strata/contract'
import { StrataError } from '@strata/core'
import type { AgentMaintenance } from '../agents/agent-maintenance.js'
import { conflict } from '../errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { RunManager } from '../runs/run-manager.js'
import type { ServerLog } from '../server-log.js'
import type { MaintenanceStore } from './maintenance-store.js'
import { maintenanceSettings, runMaintenanceTask } from './maintenance-tasks.js'

const TASKS: readonly MaintenanceTask[] = ['gc', 'check', 'verify']
const HOUR_MS = 3_600_000

export interface MaintenanceDeps {
  readonly runs: RunManager
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly store: MaintenanceStore
  readonly log: ServerLog
  readonly closing: AbortSignal
  /** How often schedules are looked at (default one minute). */
  readonly tickMs?: number
  readonly now?: () => number
  /** Repositories assigned to an agent: their maintenance runs there (agents/agent-maintenance.ts). */
  readonly agents?: AgentMaintenance
  /** In a cluster, whether this instance leads (only the leader starts tasks by their schedules). */
  readonly leads?: () => boolean
}

export class MaintenanceRunner {
  readonly #running = new Set<string>()
  #timer: NodeJS.Timeout | undefined

  constructor(readonly deps: MaintenanceDeps) {}

  /** Looks at the schedules every tickMs until the server closes. */
  startTimer(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => void this.tick(), this.deps.tickMs ?? 60_000)
    this.#timer.unref()
    this.deps.closing.addEventListener('abort', () => clearInterval(this.#timer), { once: true })
  }

  /** Starts every task that is due and not running; resolves to their run ids. */
  async tick(): Promise<string[]> {
    if (this.deps.leads?.() === false) return []
    const now = (this.deps.now ?? Date.now)()
    const started: string[] = []
    for (const repo of await this.deps.repositories.list()) {
      const schedule = await this.deps.store.schedule(repo.id)
      for (const task of TASKS) {
        const every = schedule[task].everyHours
        if (every <= 0 || this.#running.has(`${repo.id}:${task}`) || !(await this.#reachable(repo.id)))
          continue
        if (now - (await this.deps.store.lastStart(repo.id, task, now)) < every * HOUR_MS) continue
        started.push(await this.start(repo.id, task))
      }
    }
    return started
  }

  /** Starts one task as a run; resolves with its id once its log is open. */
  async start(repositoryId: string, task: MaintenanceTask): Promise<string> {
    const { runs, repositories, store, closing } = this.deps
    const repo = await repositories.get(repositoryId)
    const key = `${repo.id}:${task}`
    const agentId = await this.deps.agents?.agentOf(repo.id)
    if (agentId !== undefined && !(await this.#reachable(repo.id)))
      throw conflict(
        `agent '${await this.deps.agents?.name(agentId)}' is offline: ${task} of repository '${repo.name}' runs there`,
        'AGENT_OFFLINE',
      )
    // No await from the check to the add: two starts at once do not both pass.
    if (closing.aborted) throw conflict('the server is stopping', 'SERVER_STOPPING')
    if (this.#running.has(key)) throw conflict(`${task} of '${repo.name}' is running already`, 'TASK_RUNNING')
    this.#running.add(key)
    const runId = makeRunId()
    const start = (this.deps.now ?? Date.now)()
    await store.setLastStart(repo.id, task, start)
    const log = await openRunLog(runs.runsDir, runId).catch((error: unknown) => {
      this.#running.delete(key)
      throw error
    })
    const jobName = `${task} of ${repo.name}`
    await runs.beginOther(
      { runId, jobId: `maintenance:${repo.id}`, jobName, kind: 'maintenance', start },
      { names: { pools: {}, repositories: { [repo.id]: repo.name } } },
    )
    const schedule = await store.schedule(repo.id)
    const emit = (event: TaskEvent): void => {
      log.append(event)
      runs.onEvent(runId, event)
    }
    const done = (
      agentId === undefined
        ? runRootTask(
            { emit, signal: closing },
            `repository ${task}`,
            async (t) => {
              const opened = await this.deps.repositoryService.openCurrent(repo.id, t.signal)
              await runMaintenanceTask(t, opened, task, schedule)
            },
            { runId, repositoryId: repo.id, repository: repo.name, task },
          )
        : this.#onAgent(repo.id, runId, task, schedule, emit)
    )
      .then(
        () => runs.endOther(runId, 'success'),
        (error: unknown) => runs.endOther(runId, statusOf(error), toTaskError(error)),
      )
      .finally(() => {
        log.close()
        this.#running.delete(key)
      })
    runs.track(done)
    return runId
  }

  /** On the repository's agent: its events come back through the agent's outbox, then its result. */
  async #onAgent(
    repositoryId: string,
    runId: string,
    task: MaintenanceTask,
    schedule: MaintenanceSchedule,
    onEvent: (event: TaskEvent) => void,
  ): Promise<void> {
    const settings = maintenanceSettings(schedule)
    const o = { repositoryId, runId, task, settings, onEvent, signal: this.deps.closing }
    const result = await this.deps.agents!.run(o)
    if (result.status !== 'success')
      throw new StrataError('MAINTENANCE_FAILED', `${task} ended ${result.status} on the agent`)
  }

  /** A repository of the server's, or of an agent that is connected. */
  async #reachable(repositoryId: string): Promise<boolean> {
    const agentId = await this.deps.agents?.agentOf(repositoryId)
    return agentId === undefined || this.deps.agents!.isOnline(agentId)
  }
}
