// The runs an agent holds: each in a worker process of its own (the engine's runJobInWorker), started
// by the server's 'run' order and stopped by its 'abort'. They outlive a link: what they say goes
// through the outbox (numbered, on disk until the server acknowledges it, outbox.ts), so that what a
// dead link lost and what was said while no link was up are sent on the next one.
import { join } from 'node:path'
import { runJobInWorker, type Job, type RunResult, type WorkerRunOptions } from '../engine/index.js'
import { errorCode, errorMessage } from '../shared/index.js'
import { AgentMessageError } from './agent-errors.js'
import { runAgentRestore, type RunRestore } from './agent-restores.js'
import { Outbox } from './outbox.js'
import type { RestoreOrderSealed } from './protocol-restore.js'
import type { FromAgent, RunMessage, ToAgent } from './protocol.js'
import { agentSealKey, openForAgent } from './seal.js'

export type RunJob = (o: WorkerRunOptions) => Promise<RunResult>

/** What the server seals into a 'run' order. */
export interface RunOrder {
  readonly job: Job
  readonly scheduleId?: string
  /** The worker's secrets (repository passphrase, S3 keys): its environment, never its command line. */
  readonly env: Record<string, string>
}

export class AgentRuns {
  readonly #runs = new Map<string, AbortController>()
  readonly #done = new Set<Promise<unknown>>()
  readonly #outbox: Outbox
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

  handle(m: Exclude<ToAgent, { type: 'welcome' | 'refused' | 'download' }>): void {
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

  #start(runId: string, order: RunOrder): void {
    this.o.log(`run ${runId} of job '${order.job.id}' started`)
    this.#track(runId, (signal) =>
      (this.o.runJob ?? runJobInWorker)({
        job: order.job,
        runId,
        ...(order.scheduleId === undefined ? {} : { scheduleId: order.scheduleId }),
        dataDir: join(this.o.dataDir, 'engine'),
        // NAS remotes are mounted under the agent's own data directory, not the server's.
        env: { ...order.env, STRATA_HOME: this.o.dataDir },
        signal,
        killAfterMs: 30_000,
        onEvent: (event) => this.#emit({ type: 'event', runId, event }),
      }).then((result): RunMessage => ({ type: 'done', runId, result })),
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
