// The repositories assigned to agents, as the server reaches them: never opened here, asked of their
// agent over its link (agent-requests.ts) with what opens them sealed for that agent only (the location
// is the agent's, the passphrase and S3 keys travel sealed). Answers are checked before use: an agent is
// trusted with its repositories, not with the server's memory.
import type { FileCall, PointFound, RepositoryOp, RepositoryTarget, WirePoint } from '@strata/core/agent'
import { parseIdentity, type RepositoryIdentity } from '@strata/core/repository'
import { ApiError, conflict } from '../errors.js'
import type { PointView, RemoteRepositories, Usage } from '../repositories/repository-service.js'
import { secretsEnv, type RepositoryInput, type RepositoryStore } from '../repositories/repository-store.js'
import type { AgentHub } from './agent-hub.js'
import type { AgentStore } from './agent-store.js'

const MAX_POINTS = 100_000

export class AgentRepositoryAccess implements RemoteRepositories {
  constructor(
    readonly hub: AgentHub,
    readonly agents: AgentStore,
    readonly repositories: RepositoryStore,
  ) {}

  agentOf(id: string): Promise<string | undefined> {
    return this.agents.agentOfRepository(id)
  }

  assign(id: string, agentId: string | null): Promise<void> {
    return this.agents.assignRepository(id, agentId)
  }

  async notHere(id: string): Promise<Error> {
    const { name } = await this.repositories.get(id)
    const agent = (await this.agents.get((await this.agentOf(id))!)).name
    return conflict(
      `repository '${name}' is assigned to agent '${agent}', which alone opens it: this is not done through the agent yet`,
      'AGENT_REPOSITORY',
    )
  }

  /** What opens the repository, as sealed for its agent. */
  async target(id: string): Promise<RepositoryTarget> {
    const record = await this.repositories.get(id)
    return {
      name: record.name,
      location: record.location,
      env: secretsEnv(await this.repositories.secrets(id)),
      ...(record.identity === undefined ? {} : { expected: record.identity }),
    }
  }

  async points(id: string, vm: string | undefined, signal: AbortSignal): Promise<PointView[]> {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'points', ...(vm === undefined ? {} : { vm }) }
    const answer = await this.#ask(id, op, `listing the points of repository '${op.name}'`, signal)
    if (!Array.isArray(answer) || answer.length > MAX_POINTS || !answer.every(isWirePoint))
      throw badAnswer(op.name, 'points')
    return (answer as WirePoint[]).map(toView).reverse()
  }

  async usage(id: string, signal: AbortSignal): Promise<Usage> {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'usage' }
    const answer = await this.#ask(id, op, `measuring repository '${op.name}'`, signal)
    const u = answer as Partial<Usage> | null
    if (typeof u?.bytes !== 'number' || typeof u.chunks !== 'number') throw badAnswer(op.name, 'usage')
    return u.locked === undefined ? { bytes: u.bytes, chunks: u.chunks } : (u as Usage)
  }

  async point(id: string, pointId: string, signal: AbortSignal): Promise<PointFound> {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'point', pointId }
    const answer = (await this.#ask(
      id,
      op,
      `finding point '${pointId}' in repository '${op.name}'`,
      signal,
    )) as {
      point?: unknown
      vmName?: unknown
    } | null
    if (!short(answer?.point) || typeof answer.vmName !== 'string' || answer.vmName.length > 1000)
      throw badAnswer(op.name, 'point')
    return { point: answer.point, vmName: answer.vmName }
  }

  async deletePoint(id: string, pointId: string, signal: AbortSignal): Promise<string> {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'delete', pointId }
    return pointIdOf(
      op.name,
      await this.#ask(id, op, `deleting point '${pointId}' of repository '${op.name}'`, signal),
    )
  }

  async protect(id: string, pointId: string, on: boolean, signal: AbortSignal): Promise<string> {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'protect', pointId, on }
    const verb = on ? 'protecting' : 'unprotecting'
    return pointIdOf(
      op.name,
      await this.#ask(id, op, `${verb} point '${pointId}' of repository '${op.name}'`, signal),
    )
  }

  /** A file browsing call on the agent's session of a point's disk; the answer as the session gave it. */
  async files(id: string, point: { pointId: string; disk: number }, call: FileCall, signal: AbortSignal) {
    const op: RepositoryOp = { ...(await this.target(id)), op: 'files', ...point, call }
    const what = `browsing disk ${point.disk} of point '${point.pointId}' of repository '${op.name}'`
    const answer = await this.#ask(id, op, what, signal)
    if (typeof answer !== 'object' || answer === null) throw badAnswer(op.name, 'files')
    return answer
  }

  /**
   * Opens (or, with create, makes) a repository at the agent's location and answers its identity: how
   * a repository is added for an agent, or checked when assigned to one.
   */
  async open(
    agentId: string,
    input: RepositoryInput & { expected?: RepositoryIdentity },
    o: { create: boolean; force?: boolean },
    signal: AbortSignal,
  ): Promise<RepositoryIdentity> {
    const op: RepositoryOp = {
      op: 'open',
      name: input.name,
      location: input.location,
      env: secretsEnv(input),
      create: o.create,
      ...(o.force === undefined ? {} : { force: o.force }),
      ...(input.expected === undefined ? {} : { expected: input.expected }),
    }
    const answer = (await this.hub.requests.ask(agentId, op, `repository '${input.name}'`, signal)) as {
      identity?: unknown
    } | null
    let identity: RepositoryIdentity | undefined
    try {
      identity = parseIdentity(answer?.identity)
    } catch (error) {
      throw badAnswer(input.name, 'open', error)
    }
    if (identity === undefined) throw badAnswer(input.name, 'open')
    return identity
  }

  async #ask(id: string, op: RepositoryOp, what: string, signal: AbortSignal): Promise<unknown> {
    return this.hub.requests.ask((await this.agentOf(id))!, op, what, signal)
  }
}

const isWirePoint = (p: unknown): boolean => {
  const o = p as Partial<WirePoint> | null
  return (
    typeof o?.pointId === 'string' &&
    typeof o.ref === 'string' &&
    typeof o.vmUuid === 'string' &&
    typeof o.vmName === 'string' &&
    typeof o.time === 'number' &&
    Array.isArray(o.disks)
  )
}

const short = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 1000

function pointIdOf(name: string, answer: unknown): string {
  const id = (answer as { pointId?: unknown } | null)?.pointId
  if (!short(id)) throw badAnswer(name, 'point id')
  return id
}

function toView({ pointId, tags: _tags, ...p }: WirePoint): PointView {
  return { ...p, id: pointId }
}

function badAnswer(name: string, what: string, cause?: unknown): ApiError {
  return new ApiError(
    502,
    'AGENT_ANSWER_INVALID',
    `the agent's answer on repository '${name}' (${what}) is not valid`,
    undefined,
    cause,
  )
}
