// The runs an agent holds: each in a worker process of its own (the engine's runJobInWorker), started
// by the server's 'run' order and stopped by its 'abort'. They outlive a link: what they say goes
// through the outbox (numbered, on disk until the server acknowledges it, outbox.ts), so that what a
// dead link lost and what was said while no link was up are sent on the next one.
import { join } from 'node:path'
import {
  runJobInWorker,
  runMaintenance,
  runRootTask,
  type Job,
  type RunResult,
  type WorkerRunOptions,
} from '../engine/index.js'
import { errorCode, errorMessage } from '../shared/index.js'
import { AgentMessageError } from './agent-errors.js'
import { openAt } from './agent-open.js'
import { runAgentRestore, type RunRestore } from './agent-restores.js'
import { TickLog } from './agent-ticks.js'
import { Outbox } from './outbox.js'
import type { RestoreOrderSealed } from './protocol-restore.js'
import type { FromAgent, RunMessage, ToAgent } from './protocol.js'
import type { MaintenanceOrder, RepositoryRequest, ScheduleTick } from './protocol-repository.js'
import { agentSealKey, openForAgent } from './seal.js'

export type RunJob = (o: WorkerRunOptions) => Promise<RunResult>

/** What the server seals into a 'run' order: a job, or a maintenance task of one of the agent's repositories. */
export type RunOrder = JobOrder | MaintenanceOrder

export interface JobOrder {
  readonly job: Job
  readonly scheduleId?: string
  /** The schedule tick this run is for: run once, whatever number of orders for it come. */
  readonly tick?: ScheduleTick
  /** The worker's secrets (repository passphrase, S3 keys): its environment, never its command line. */
  readonly env: Record<string, string>
}

export class AgentRuns {
  readonly #runs = new Map<string, AbortController>()
  readonly #done = new Set<Promise<unknown>>()
  readonly #outbox: Outbox
  readonly #ticks: TickLog
  #send: ((m: FromAgent) => void) | undefined
  #key: Buffer | undefined

  constructor(
    readonly o: {
      readonly token: string
      readonly dataDir: string
      readonly log: (line: string) => void
      readonly runJob?: RunJob
      readonly runRestore?: RunRestore
    },
  ) {
    this.#outbox = new Outbox(join(o.dataDir, 'agent-outbox'))
    this.#ticks = new TickLog(join(o.dataDir, 'agent-ticks.json'))
  }

  /** The key orders and requests are sealed with; undefined before the first welcome. */
  get key(): Buffer | undefined {
    return this.#key
  }

  /** A link is up and the server has everything up to `acked`: what follows is sent again first. */
  attach(agentId: string, acked: number, send: (m: FromAgent) => void): void {
    this.#key = agentSealKey(this.o.token, agentId)
    this.#outbox.ack(acked)
    for (const { seq, m } of this.#outbox.pending()) send({ ...m, seq } as FromAgent)
    this.#send = send
  }

  detach(): void {
    this.#send = undefined
  }

  handle(m: Exclude<ToAgent, { type: 'welcome' | 'refused' | 'download' } | RepositoryRequest>): void {
    if (m.type === 'ack') return this.#outbox.ack(m.seq)
    if (m.type === 'abort') {
      this.#runs.get(m.runId)?.abort(new Error(m.reason))
      return
    }
    if (this.#runs.has(m.runId)) return // the same order again (a replay): a run starts once
    if (this.#key === undefined) throw new AgentMessageError(`a ${m.type} before the welcome`)
    const opened = openForAgent(this.#key, m.runId, m.sealed)
    if (m.type === 'restore') return this.#restore(m.runId, opened as RestoreOrderSealed)
    this.#start(m.runId, opened as RunOrder)
  }

  /** A job, or a maintenance task of one of the agent's repositories. */
  #start(runId: string, order: RunOrder): void {
    this.#track(runId, (signal) =>
      ('maintenance' in order
        ? this.#maintain(runId, order.maintenance, signal)
        : this.#job(runId, order, signal)
      ).then((result): RunMessage => ({ type: 'done', runId, result })),
    )
  }

  #restore(runId: string, sealed: RestoreOrderSealed): void {
    this.o.log(`restore ${runId} of point '${sealed.order.pointId}' started`)
    this.#track(runId, (signal) =>
      runAgentRestore({
        runId,
        sealed,
        dataDir: this.o.dataDir,
        signal,
        emit: (m) => this.#emit(m),
        ...(this.o.runRestore === undefined ? {} : { runRestore: this.o.runRestore }),
      }),
    )
  }

  /** A run or restore until its end, which goes to the server as its last message. */
  #track(runId: string, work: (signal: AbortSignal) => Promise<RunMessage>): void {
    const controller = new AbortController()
    this.#runs.set(runId, controller)
    const done = work(controller.signal).then(
      (last) => this.#emit(last),
      (error: unknown) =>
        this.#emit({
          type: 'failed',
          runId,
          error: { code: errorCode(error), message: errorMessage(error) },
        }),
    )
    const tracked = done.finally(() => {
      this.#runs.delete(runId)
      this.#done.delete(tracked)
      this.o.log(`run ${runId} ended`)
    })
    this.#done.add(tracked)
  }

  #job(runId: string, order: JobOrder, signal: AbortSignal): Promise<RunResult> {
    const ran = order.tick === undefined ? undefined : this.#ticks.claim(order.tick, runId)
    if (ran !== undefined) return Promise.resolve(this.#tickDone(runId, order, ran))
    this.o.log(`run ${runId} of job '${order.job.id}' started`)
    return (this.o.runJob ?? runJobInWorker)({
      job: order.job,
      runId,
      ...(order.scheduleId === undefined ? {} : { scheduleId: order.scheduleId }),
      dataDir: join(this.o.dataDir, 'engine'),
      // NAS remotes are mounted under the agent's own data directory, not the server's.
      env: { ...order.env, STRATA_HOME: this.o.dataDir },
      signal,
      killAfterMs: 30_000,
      onEvent: (event) => this.#emit({ type: 'event', runId, event }),
    })
  }

  /** An order for a tick run already: said on the run's root task, and the run ends skipped. */
  #tickDone(runId: string, order: JobOrder, ran: string): RunResult {
    const at = new Date(order.tick!.at).toISOString()
    const message = `job '${order.job.id}' ran for its schedule tick of ${at} already (run ${ran}): not run twice`
    this.o.log(message)
    const time = Date.now()
    this.#emit({ type: 'event', runId, event: { type: 'start', id: '0', name: 'run', time } })
    const error = { code: 'AGENT_TICK_DONE', message }
    this.#emit({ type: 'event', runId, event: { type: 'end', id: '0', status: 'skipped', error, time } })
    return { runId, status: 'skipped', vms: [] }
  }

  /** A maintenance task of one of the agent's repositories, in this process (its reads are bounded). */
  async #maintain(
    runId: string,
    m: MaintenanceOrder['maintenance'],
    signal: AbortSignal,
  ): Promise<RunResult> {
    this.o.log(`run ${runId}: ${m.task} of repository '${m.name}' started`)
    const data = { runId, repositoryId: m.repositoryId, repository: m.name, task: m.task }
    await runRootTask(
      { emit: (event) => this.#emit({ type: 'event', runId, event }), signal },
      `repository ${m.task}`,
      async (t) => {
        const repo = await openAt(this.o.dataDir, m, t.signal)
        try {
          await runMaintenance(t, repo, m.task, m.settings)
        } finally {
          await repo.store.close?.().catch(() => undefined)
        }
      },
      data,
    )
    return { runId, status: 'success', vms: [] }
  }

  #emit(m: RunMessage): void {
    const numbered = this.#outbox.push(m)
    if (numbered === undefined || this.#send === undefined) return
    try {
      this.#send({ ...m, seq: numbered.seq } as FromAgent)
    } catch {
      // the link is closing: the outbox keeps it for the next one
    }
  }

  /** The agent stops: its runs are asked to stop (their workers undo what they did) and awaited. */
  async stopAll(): Promise<void> {
    for (const c of this.#runs.values()) c.abort(new Error('the agent is stopping'))
    await Promise.all(this.#done)
  }
}
