// The agents' live links and the runs they execute. A job whose pools belong to an agent runs there:
// the order (job, pool passwords, repository secrets) goes sealed for that agent, and the run's task
// events come back over the link; the server writes them to its own run log and publishes them as it
// does for a local worker's, so the run reads the same in the API and the UI. A run outlives a link:
// the agent replays what it said while the link was down.
import type { WebSocket } from '@fastify/websocket'
import { CLOSE_REVOKED, sealForAgent, type FromAgent } from '@strata/core/agent'
import {
  makeRunId,
  openRunLog,
  runDirs,
  WorkerError,
  type Job,
  type RunResult,
  type RunLogWriter,
  type WorkerRunOptions,
} from '@strata/core/engine'
import { conflict } from '../errors.js'
import type { ServerLog } from '../server-log.js'
import { AgentLink } from './agent-link.js'
import type { AgentRecord, AgentStore } from './agent-store.js'

const SEEN_GRAIN_MS = 5_000

/** Runs a job somewhere else than this server's own worker processes. */
export type RemoteRunner = (o: WorkerRunOptions) => Promise<RunResult>

interface RemoteRun {
  readonly agentId: string
  readonly o: WorkerRunOptions
  readonly log: Promise<RunLogWriter | undefined>
  readonly resolve: (r: RunResult) => void
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
        this.#write(this.store.seen(agent.id, version))
        this.log.info(`agent '${agent.name}' online (version ${version})`)
        this.#noteRuns(agent, 'up', `agent '${agent.name}' reachable again: the run's events follow`)
        const known = this.#received.get(agent.id)
        if (known?.session === session) return known.seq
        this.#received.set(agent.id, { session, seq: 0 })
        return 0
      },
      message: (_link, m) => this.#message(agent.id, m),
      closed: (link) => {
        if (this.#closed || this.#links.get(agent.id) !== link) return
        this.#links.delete(agent.id)
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
    for (const [runId, run] of this.#runs)
      if (run.agentId === agentId)
        this.#end(runId, () =>
          run.reject(new WorkerError('AGENT_REVOKED', 'the agent was revoked during the run')),
        )
  }

  /** Where a job runs: undefined for this server; its agent's runner when its pools are an agent's. */
  async runnerFor(job: Job): Promise<RemoteRunner | undefined> {
    const agents = new Set(await Promise.all(job.pools.map((p) => this.store.agentOfPool(p.id))))
    if (agents.size === 0 || (agents.size === 1 && agents.has(undefined))) return undefined
    if (agents.size > 1)
      throw conflict(
        `job '${job.id}' selects pools of different agents (or of an agent and of the server): a run happens in one place`,
        'AGENT_MIXED_POOLS',
      )
    const agentId = [...agents][0]!
    if (!this.#links.has(agentId)) {
      const { name } = await this.store.get(agentId)
      throw conflict(`agent '${name}' is offline: the run of job '${job.id}' needs it`, 'AGENT_OFFLINE')
    }
    const sealKey = await this.store.sealKey(agentId)
    return (o) => this.#dispatch(agentId, sealKey, o)
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
      run.o.onEvent?.(end)
      this.#end(runId, () => run.resolve({ runId, status: 'interrupted', vms: [] }))
    }
  }

  #dispatch(agentId: string, sealKey: Buffer, o: WorkerRunOptions): Promise<RunResult> {
    const runId = o.runId ?? makeRunId()
    const env = Object.fromEntries(
      Object.entries(o.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined),
    )
    return new Promise<RunResult>((resolve, reject) => {
      const log = openRunLog(runDirs(o.dataDir).runs, runId).catch(() => undefined)
      this.#runs.set(runId, { agentId, o, log, resolve, reject })
      o.onStart?.({ pid: 0, runId })
      const sealed = sealForAgent(sealKey, runId, {
        job: o.job,
        scheduleId: o.scheduleId,
        env,
      })
      this.#links.get(agentId)?.send({ type: 'run', runId, sealed })
      o.signal.addEventListener('abort', () => this.#abort(runId, o.signal.reason), { once: true })
    })
  }

  #abort(runId: string, reason: unknown): void {
    const run = this.#runs.get(runId)
    if (run === undefined) return
    const text = reason instanceof Error ? reason.message : String(reason ?? 'aborted')
    this.#links.get(run.agentId)?.send({ type: 'abort', runId, reason: text })
  }

  /** A message of a run; false when the run is not this agent's. */
  #message(agentId: string, m: Exclude<FromAgent, { type: 'hello' }>): boolean {
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
      run.o.onEvent?.(m.event)
    } else if (m.type === 'done') this.#end(m.runId, () => run.resolve(m.result))
    else this.#end(m.runId, () => run.reject(new WorkerError(m.error.code, m.error.message)))
    return true
  }

  /** A line on the root task of each of the agent's runs: whether the server hears from it (not a failure). */
  #noteRuns(agent: AgentRecord, link: 'up' | 'down', message: string): void {
    for (const [, run] of this.#runs) {
      if (run.agentId !== agent.id) continue
      const event = { type: 'info' as const, id: '0', message, data: { agentLink: link }, time: Date.now() }
      void run.log.then((w) => w?.append(event))
      run.o.onEvent?.(event)
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
