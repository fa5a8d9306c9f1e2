// The agents' live links and the runs they execute. A job whose pools belong to an agent runs there:
// the order (job, pool passwords, repository secrets) goes sealed for that agent, and the run's task
// events come back over the link; the server writes them to its own run log and publishes them as it
// does for a local worker's, so the run reads the same in the API and the UI. A run outlives a link:
// the agent replays what it said while the link was down.
import type { WebSocket } from '@fastify/websocket'
import {
  CLOSE_REVOKED,
  sealForAgent,
  type FromAgent,
  type MaintenanceOrder,
  type RepositoryAnswer,
  type ScheduleTick,
  type ToAgent,
} from '@strata/core/agent'
import {
  makeRunId,
  openRunLog,
  runDirs,
  WorkerError,
  type Job,
  type RunResult,
  type RunLogWriter,
  type TaskEvent,
  type WorkerOptions,
  type WorkerRunOptions,
} from '@strata/core/engine'
import { conflict } from '../errors.js'
import type { ServerLog } from '../server-log.js'
import { AgentLink } from './agent-link.js'
import { placeJob } from './agent-placement.js'
import { AgentRequests } from './agent-requests.js'
import type { AgentRecord, AgentStore } from './agent-store.js'

const SEEN_GRAIN_MS = 5_000

/** Runs a job somewhere else than this server's own worker processes. */
export type RemoteRunner = (o: WorkerRunOptions) => Promise<RunResult>

/** What the server follows of a run or a restore it ordered from an agent. */
export type FollowOptions = Pick<WorkerOptions, 'dataDir' | 'signal' | 'onEvent' | 'onStart'> & {
  readonly runId?: string
}

interface RemoteRun {
  readonly agentId: string
  readonly onEvent: ((event: TaskEvent) => void) | undefined
  /** The server's copy of the run's log (undefined: its caller keeps it, as maintenance does). */
  readonly log: Promise<RunLogWriter | undefined>
  /** With the agent's result: a RunResult ('done') or a RestoreResult ('restored'). */
  readonly resolve: (r: never) => void
  readonly reject: (e: Error) => void
}

export class AgentHub {
  readonly #links = new Map<string, AgentLink>()
  readonly #runs = new Map<string, RemoteRun>()
  /** Set when the server stops: links that close after it touch no store. */
  #closed = false
  /** When each agent's last-seen time was last written: at most one write per agent per SEEN_GRAIN_MS. */
  readonly #seenWritten = new Map<string, number>()
  /** Each agent's session and the last of its messages received: a replay of older ones is dropped. */
  readonly #received = new Map<string, { session: string; seq: number }>()
  /** Each agent's name, as at its last link: what a run's line and an unreachable run say. */
  readonly #names = new Map<string, string>()
  /** Requests about the agents' repositories, answered over their links (agent-requests.ts). */
  readonly requests = new AgentRequests({
    send: (agentId, m) => this.send(agentId, m),
    sealKey: (agentId) => this.store.sealKey(agentId),
    name: async (agentId) => this.#names.get(agentId) ?? (await this.store.get(agentId)).name,
  })

  constructor(
    readonly store: AgentStore,
    readonly log: ServerLog,
  ) {}

  isOnline(agentId: string): boolean {
    return this.#links.has(agentId)
  }

  /** A new link of an authenticated agent (its token was checked at the upgrade). */
  accept(agent: AgentRecord, socket: WebSocket): void {
    new AgentLink(agent, socket, {
      log: (level, line) => (level === 'warn' ? this.log.warn(line) : this.log.info(line)),
      welcomed: (link, version, session) => {
        this.#links.get(agent.id)?.close(1000, 'replaced by a new link')
        this.#links.set(agent.id, link)
        this.#names.set(agent.id, agent.name)
        this.#write(this.store.seen(agent.id, version))
        this.log.info(`agent '${agent.name}' online (version ${version})`)
        this.#noteRuns(agent, 'up', `agent '${agent.name}' reachable again: the run's events follow`)
        const known = this.#received.get(agent.id)
        if (known?.session === session) return known.seq
        this.#received.set(agent.id, { session, seq: 0 })
        return 0
      },
      message: (_link, m) => this.#message(agent.id, m),
      answer: (_link, m: RepositoryAnswer) => this.requests.answer(agent.id, m),
      closed: (link) => {
        if (this.#closed || this.#links.get(agent.id) !== link) return
        this.#links.delete(agent.id)
        this.requests.linkDown(agent.id)
        this.#write(this.store.seen(agent.id, undefined))
        this.log.info(`agent '${agent.name}' offline`)
        this.#noteRuns(
          agent,
          'down',
          `agent '${agent.name}' unreachable: the run goes on there, its events arrive when the link is back`,
        )
      },
    })
  }

  /** Revocation: the agent's link ends now, and its runs with it. */
  revoke(agentId: string): void {
    this.#links.get(agentId)?.close(CLOSE_REVOKED, 'the agent was revoked')
    this.#links.delete(agentId)
    this.requests.linkDown(agentId)
    for (const [runId, run] of this.#runs)
      if (run.agentId === agentId)
        this.#end(runId, () =>
          run.reject(new WorkerError('AGENT_REVOKED', 'the agent was revoked during the run')),
        )
  }

  /**
   * Where a job runs: undefined for this server; its agent's runner when its pools are an agent's. A
   * scheduled run names its tick, which the agent runs once (agent-ticks.ts).
   */
  async runnerFor(job: Job, tick?: ScheduleTick): Promise<RemoteRunner | undefined> {
    const agentId = await placeJob(job, this.store)
    if (agentId === undefined) return undefined
    await this.requireOnline(agentId, `the run of job '${job.name ?? job.id}'`)
    const sealKey = await this.store.sealKey(agentId)
    return (o) => this.#dispatch(agentId, sealKey, o, tick)
  }

  /** A maintenance task of a repository assigned to the agent, run there; its events come to `onEvent`. */
  async maintain(
    agentId: string,
    runId: string,
    order: MaintenanceOrder,
    onEvent: (event: TaskEvent) => void,
    signal: AbortSignal,
  ): Promise<RunResult> {
    await this.requireOnline(agentId, `${order.maintenance.task} of repository '${order.maintenance.name}'`)
    const sealed = sealForAgent(await this.store.sealKey(agentId), runId, order)
    const run = { onEvent, log: Promise.resolve(undefined) }
    return this.#follow<RunResult>(agentId, runId, run, { type: 'run', runId, sealed }, signal)
  }

  /** The agent's name when a run out on it cannot be heard from now (its link is down). */
  unreachable(runId: string): string | undefined {
    const run = this.#runs.get(runId)
    if (run === undefined || this.#links.has(run.agentId)) return undefined
    return this.#names.get(run.agentId) ?? run.agentId
  }

  /**
   * An order on the agent's link; false when the link is down (the order is dropped: whoever waits for
   * its answer fails or times out).
   */
  send(agentId: string, m: ToAgent): boolean {
    const link = this.#links.get(agentId)
    if (link === undefined) return false
    link.send(m)
    return true
  }

  /** 409 AGENT_OFFLINE, naming the agent and what needs it, unless its link is up. */
  async requireOnline(agentId: string, what: string): Promise<void> {
    if (this.#links.has(agentId)) return
    const { name } = await this.store.get(agentId)
    throw conflict(`agent '${name}' is offline: ${what} needs it`, 'AGENT_OFFLINE')
  }

  /**
   * The server stops: runs still out on agents end here as interrupted, as a local run's would (they go
   * on there; what the agent says of them later is ignored, see #message).
   */
  closeAll(): void {
    this.#closed = true
    for (const link of this.#links.values()) link.close(1001, 'the server is stopping')
    for (const [runId, run] of this.#runs) {
      const error = {
        code: 'SERVER_STOPPED',
        message: 'the server stopped during the run (it goes on on the agent)',
      }
      const end = { type: 'end' as const, id: '0', status: 'interrupted' as const, error, time: Date.now() }
      void run.log.then((w) => w?.append(end))
      run.onEvent?.(end)
      this.#end(runId, () => run.resolve({ runId, status: 'interrupted', vms: [] } as never))
    }
  }

  #dispatch(
    agentId: string,
    sealKey: Buffer,
    o: WorkerRunOptions,
    tick: ScheduleTick | undefined,
  ): Promise<RunResult> {
    return this.follow<RunResult>(agentId, sealKey, o, (runId, seal) => ({
      type: 'run',
      runId,
      sealed: seal({
        job: o.job,
        scheduleId: o.scheduleId,
        ...(tick === undefined ? {} : { tick }),
        env: definedEnv(o.env),
      }),
    }))
  }

  /**
   * Sends the agent an order (`order` seals its secrets for the agent, under the run's id) and follows
   * its run: events to the server's run log and `onEvent`, its end settling the promise.
   */
  follow<R>(
    agentId: string,
    sealKey: Buffer,
    o: FollowOptions,
    order: (runId: string, seal: (plain: unknown) => string) => ToAgent,
  ): Promise<R> {
    const runId = o.runId ?? makeRunId()
    const log = openRunLog(runDirs(o.dataDir).runs, runId).catch(() => undefined)
    o.onStart?.({ pid: 0, runId })
    const seal = (plain: unknown): string => sealForAgent(sealKey, runId, plain)
    return this.#follow<R>(agentId, runId, { onEvent: o.onEvent, log }, order(runId, seal), o.signal)
  }

  #follow<R>(
    agentId: string,
    runId: string,
    run: Pick<RemoteRun, 'onEvent' | 'log'>,
    m: ToAgent,
    signal: AbortSignal,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#runs.set(runId, { agentId, ...run, resolve: resolve as (r: never) => void, reject })
      this.#links.get(agentId)?.send(m)
      signal.addEventListener('abort', () => this.#abort(runId, signal.reason), { once: true })
    })
  }

  #abort(runId: string, reason: unknown): void {
    const run = this.#runs.get(runId)
    if (run === undefined) return
    const text = reason instanceof Error ? reason.message : String(reason ?? 'aborted')
    this.#links.get(run.agentId)?.send({ type: 'abort', runId, reason: text })
  }

  /** A message of a run; false when the run is not this agent's. */
  #message(agentId: string, m: Exclude<FromAgent, { type: 'hello' | 'repository-answer' }>): boolean {
    const received = this.#received.get(agentId)
    if (received !== undefined && m.seq <= received.seq) return true // sent again after a link died: had it
    const run = this.#runs.get(m.runId)
    if (run !== undefined && run.agentId !== agentId) return false // another agent's run
    this.#seen(agentId)
    if (received !== undefined) received.seq = m.seq
    // A run this server does not follow (it restarted since, and ended the run as interrupted): what the
    // agent still says of it is acknowledged and dropped, so that its outbox empties.
    if (run === undefined) return this.#ignored(agentId, m.runId)
    if (m.type === 'event') {
      void run.log.then((w) => w?.append(m.event))
      run.onEvent?.(m.event)
    } else if (m.type === 'done' || m.type === 'restored')
      this.#end(m.runId, () => run.resolve(m.result as never))
    else this.#end(m.runId, () => run.reject(new WorkerError(m.error.code, m.error.message)))
    return true
  }

  /** A line on the root task of each of the agent's runs: whether the server hears from it (not a failure). */
  #noteRuns(agent: AgentRecord, link: 'up' | 'down', message: string): void {
    for (const [, run] of this.#runs) {
      if (run.agentId !== agent.id) continue
      const data = { agentLink: link, agent: agent.name }
      const event = { type: 'info' as const, id: '0', message, data, time: Date.now() }
      void run.log.then((w) => w?.append(event))
      run.onEvent?.(event)
    }
  }

  readonly #ignoredRuns = new Set<string>()

  #ignored(agentId: string, runId: string): true {
    if (!this.#ignoredRuns.has(runId) && this.#ignoredRuns.size < 1000) {
      this.#ignoredRuns.add(runId)
      void this.store.get(agentId).then(
        ({ name }) =>
          this.log.warn(
            `agent '${name}' reports on run '${runId}', which this server does not follow: ignored`,
          ),
        () => undefined, // revoked meanwhile
      )
    }
    return true
  }

  #seen(agentId: string): void {
    const now = Date.now()
    if (now - (this.#seenWritten.get(agentId) ?? 0) < SEEN_GRAIN_MS) return
    this.#seenWritten.set(agentId, now)
    this.#write(this.store.seen(agentId, undefined, now))
  }

  /** A write the link does not wait for (its last-seen time): a failure is logged. */
  #write(done: Promise<void>): void {
    done.catch((error: unknown) =>
      this.log.warn(`could not record an agent's last contact: ${String(error)}`),
    )
  }

  #end(runId: string, settle: () => void): void {
    const run = this.#runs.get(runId)
    this.#runs.delete(runId)
    // After the events before it are written: whoever reads the run's end reads its whole log.
    void run?.log.then((w) => w?.close()).finally(settle)
  }
}

/** The worker's environment as sealed for an agent: the variables set (an unset one is left out). */
export function definedEnv(env: WorkerOptions['env']): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env ?? {}).filter((e): e is [string, string] => e[1] !== undefined),
  )
}
