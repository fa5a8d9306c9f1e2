// Requests to agents about their repositories (open, points, usage), each answered once over the link.
// A request to an agent that is offline, or whose link drops before it answers, fails at once with
// AGENT_UNREACHABLE (503, naming the agent) rather than hanging: the caller asks again later. Bounded:
// at most MAX_PENDING requests wait at once, each at most its caller's signal or REQUEST_MS.
import { randomUUID } from 'node:crypto'
import { sealForAgent, type RepositoryAnswer, type RepositoryOp, type ToAgent } from '@strata/core/agent'
import { StrataError } from '@strata/core'
import { ApiError, RetryLaterError } from '../errors.js'

const MAX_PENDING = 256
const REQUEST_MS = 300_000

interface Pending {
  readonly agentId: string
  readonly resolve: (result: unknown) => void
  readonly reject: (error: Error) => void
}

/** What the requests need of the hub: an agent's live link, its sealing key and name. */
export interface RequestLinks {
  send(agentId: string, m: ToAgent): boolean
  sealKey(agentId: string): Promise<Buffer>
  /** Its name; rejects with a 404 for an agent that does not exist. */
  name(agentId: string): Promise<string>
}

export function agentUnreachable(name: string, what: string, cause?: unknown): ApiError {
  return new RetryLaterError(
    503,
    'AGENT_UNREACHABLE',
    `agent '${name}' is unreachable: ${what} needs it (it connects to this server; check it runs)`,
    30,
    cause,
  )
}

export class AgentRequests {
  readonly #pending = new Map<string, Pending>()

  constructor(readonly links: RequestLinks) {}

  /** Sends one request sealed for the agent; resolves with its result, rejects with its error. */
  async ask(agentId: string, op: RepositoryOp, what: string, signal: AbortSignal): Promise<unknown> {
    const requestId = randomUUID()
    const name = await this.links.name(agentId) // an unknown agent: its 404
    const sealed = sealForAgent(await this.links.sealKey(agentId), requestId, op)
    if (this.#pending.size >= MAX_PENDING)
      throw new RetryLaterError(503, 'AGENT_BUSY', `${MAX_PENDING} agent requests wait`, 5)
    return new Promise<unknown>((resolve, reject) => {
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(REQUEST_MS)])
      const onAbort = (): void => this.#settle(requestId, () => reject(abortError(name, what, timeout)))
      const done =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          timeout.removeEventListener('abort', onAbort)
          f(v)
        }
      this.#pending.set(requestId, { agentId, resolve: done(resolve), reject: done(reject) })
      timeout.addEventListener('abort', onAbort, { once: true })
      if (!this.links.send(agentId, { type: 'repository', requestId, sealed }))
        this.#settle(requestId, () => reject(agentUnreachable(name, what)))
    })
  }

  /** An answer from an agent; false when the request was another agent's (the link is then dropped). */
  answer(agentId: string, m: RepositoryAnswer): boolean {
    const pending = this.#pending.get(m.requestId)
    if (pending === undefined) return true // answered too late: its caller gave up
    if (pending.agentId !== agentId) return false
    this.#pending.delete(m.requestId)
    if ('error' in m) {
      const error = m.error
      void this.#name(agentId).then((name) => pending.reject(new AgentAnswerError(name, error)))
    } else pending.resolve(m.result)
    return true
  }

  /** The agent's link went: what it had not answered fails now. */
  linkDown(agentId: string): void {
    const gone = [...this.#pending].filter(([, p]) => p.agentId === agentId)
    for (const [id] of gone) this.#pending.delete(id)
    if (gone.length === 0) return
    void this.#name(agentId).then((name) => {
      for (const [, p] of gone) p.reject(agentUnreachable(name, 'a request in progress'))
    })
  }

  /** The agent's name; its id once it is gone (revoked: its row deleted before its link). */
  #name(agentId: string): Promise<string> {
    return this.links.name(agentId).catch(() => agentId)
  }

  #settle(requestId: string, f: () => void): void {
    if (this.#pending.delete(requestId)) f()
  }
}

/** An error the agent answered with: its code and message, the agent named. */
export class AgentAnswerError extends StrataError {
  constructor(agent: string, error: { code: string; message: string }) {
    super(error.code, `agent '${agent}': ${error.message}`, { details: { agent } })
  }
}

function abortError(name: string, what: string, signal: AbortSignal): Error {
  const reason: unknown = signal.reason
  if (reason instanceof DOMException && reason.name === 'TimeoutError')
    return new ApiError(504, 'AGENT_TIMEOUT', `agent '${name}' did not answer in time: ${what}`)
  return reason instanceof Error ? reason : new Error(String(reason))
}
