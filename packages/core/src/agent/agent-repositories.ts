// The agent's side of the repositories assigned to it: the server asks (open or create one, list its
// points, measure its usage, find, delete or protect a point) and the agent opens the repository at its own location with the secrets the
// request brought sealed, and answers. At most MAX_AT_ONCE requests are served at once; more are refused
// (AGENT_BUSY, retryable) rather than queued without bound.
import { errorCode, errorMessage } from '../shared/index.js'
import { AgentError } from './agent-errors.js'
import { AGENT_MAX_MESSAGE_BYTES, type FromAgent } from './protocol.js'
import type { RepositoryAnswer, RepositoryOp, RepositoryRequest } from './protocol-repository.js'
import {
  deleteOnePoint,
  findPoint,
  measureRepositoryUsage,
  protectOnePoint,
  wirePoints,
} from './repository-ops.js'
import { openAt } from './agent-open.js'
import type { AgentFileSessions } from './agent-files.js'
import { openForAgent } from './seal.js'

const MAX_AT_ONCE = 8
const REQUEST_MS = 300_000

export class AgentRepositories {
  #serving = 0

  constructor(
    readonly o: { readonly dataDir: string; readonly log: (line: string) => void },
    /** Stopped when the agent stops: requests in progress end. */
    readonly stopping: AbortSignal,
    /** File browsing sessions (kept open across requests, unlike the repositories opened here). */
    readonly files?: AgentFileSessions,
  ) {}

  /** Answers one request through `send` (the link it came on; dropped if that link is gone). */
  handle(m: RepositoryRequest, key: Buffer | undefined, send: (m: FromAgent) => void): void {
    const answer = (a: RepositoryAnswer): void => {
      const text = JSON.stringify(a)
      const sized: RepositoryAnswer =
        text.length + 1024 > AGENT_MAX_MESSAGE_BYTES
          ? {
              ...base(m),
              error: {
                code: 'AGENT_ANSWER_TOO_LARGE',
                message: `the answer is ${text.length} bytes, more than the link carries: ask for less (one VM's points)`,
              },
            }
          : a
      try {
        send(sized)
      } catch {
        // the link is closing: the server answers its caller "agent unreachable"
      }
    }
    if (this.#serving >= MAX_AT_ONCE)
      return answer({ ...base(m), error: { code: 'AGENT_BUSY', message: `${MAX_AT_ONCE} requests at once` } })
    this.#serving++
    void this.#serve(m, key)
      .then(
        (result) => answer({ ...base(m), result }),
        (error: unknown) =>
          answer({ ...base(m), error: { code: errorCode(error), message: errorMessage(error) } }),
      )
      .finally(() => this.#serving--)
  }

  async #serve(m: RepositoryRequest, key: Buffer | undefined): Promise<unknown> {
    if (key === undefined) throw new Error('a request before the welcome')
    const op = openForAgent(key, m.requestId, m.sealed) as RepositoryOp
    if (!OPS.has(op.op))
      // A newer server's request (the protocol version should have kept it from coming): said, not guessed.
      throw new AgentError(
        'AGENT_OP_UNKNOWN',
        `this agent does not know the repository request '${String(op.op)}'`,
      )
    const signal = AbortSignal.any([this.stopping, AbortSignal.timeout(REQUEST_MS)])
    if (op.op === 'files') {
      if (this.files === undefined)
        throw new AgentError('AGENT_OP_UNKNOWN', 'this agent does not restore files')
      return this.files.call(op, op.pointId, op.disk, op.call, signal)
    }
    const create = op.op === 'open' && op.create === true
    const repo = await openAt(this.o.dataDir, op, signal, create, op.op === 'open' ? op.force : undefined)
    try {
      if (op.op === 'open') {
        this.o.log(`repository '${op.name}' ${create ? 'created' : 'opened'} at ${op.location}`)
        return { identity: repo.identity }
      }
      switch (op.op) {
        case 'points':
          return await wirePoints(repo, op.vm, signal)
        case 'usage':
          return await measureRepositoryUsage(repo, signal)
        case 'point':
          return await findPoint(repo, op.pointId, signal)
        case 'delete':
          this.o.log(`repository '${op.name}': deleting point '${op.pointId}' for the server`)
          return await deleteOnePoint(repo, op.pointId, signal)
        case 'protect':
          return await protectOnePoint(repo, op.pointId, op.on, signal)
      }
      return undefined
    } finally {
      await repo.store.close?.().catch(() => undefined)
    }
  }
}

const OPS = new Set<string>(['open', 'points', 'usage', 'point', 'delete', 'protect', 'files'])

const base = (m: RepositoryRequest) => ({ type: 'repository-answer' as const, requestId: m.requestId })
