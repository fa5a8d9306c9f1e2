// Downloads of restore points held by an agent: the server never opens that repository. It issues a
// single-use id, sends the agent the order (the point, the disk, the repository's secrets) sealed for it
// with that id bound in, and waits for the agent to open a stream of its own for that id
// (agent-download-stream.ts pipes it into the HTTP answer). The control link carries only the order, so
// runs' events are never stuck behind a disk's bytes. Bounded: at most MAX_PENDING orders wait for
// their stream at once, each for STREAM_WAIT_MS.
import { randomBytes } from 'node:crypto'
import type { WebSocket } from '@fastify/websocket'
import type { FastifyReply } from 'fastify'
import { CLOSE_INVALID, sealForAgent, type DownloadOrder } from '@strata/core/agent'
import { ApiError, RetryLaterError } from '../errors.js'
import { secretsEnv, type RepositoryRecord, type RepositoryStore } from '../repositories/repository-store.js'
import type { ServerLog } from '../server-log.js'
import { pipeDownload } from './agent-download-stream.js'
import type { AgentHub } from './agent-hub.js'
import type { AgentRecord } from './agent-store.js'

const MAX_PENDING = 8
const STREAM_WAIT_MS = 30_000

interface Pending {
  readonly agentId: string
  readonly resolve: (socket: WebSocket) => void
}

export class AgentDownloads {
  readonly #pending = new Map<string, Pending>()
  /** The downloads streaming now: the bytes each received from its agent (what the server holds is bounded). */
  readonly streaming = new Set<{ received: number }>()

  constructor(
    readonly hub: AgentHub,
    readonly repositories: RepositoryStore,
    readonly log: ServerLog,
  ) {}

  /**
   * Which agent holds a repository (it is assigned to that agent, agent-repository-routes.ts), undefined
   * for the server's own, which the server reads itself.
   */
  agentOfRepository(repositoryId: string): Promise<string | undefined> {
    return this.hub.store.agentOfRepository(repositoryId)
  }

  /**
   * Disk `disk` of the point as a VHD, or files of its filesystems (`files`), streamed from the agent
   * into the reply as the agent reads them.
   */
  async streamDisk(
    reply: FastifyReply,
    agentId: string,
    record: RepositoryRecord,
    point: { pointId: string; disk: number; files?: DownloadOrder['files'] },
    signal: AbortSignal,
  ): Promise<void> {
    const what = `the download of ${point.files === undefined ? '' : 'files of '}point '${point.pointId}' of repository '${record.name}'`
    await this.hub.requireOnline(agentId, what)
    const order: DownloadOrder = {
      repository: {
        name: record.name,
        location: record.location,
        ...(record.identity === undefined ? {} : { expected: record.identity }),
      },
      ...point,
      env: secretsEnv(await this.repositories.secrets(record.id)),
    }
    const socket = await this.#order(agentId, order, what, signal)
    const progress = { received: 0 }
    this.streaming.add(progress)
    try {
      await pipeDownload(socket, reply, signal, (e) => this.log.warn(`${what} stopped: ${e}`), progress)
    } finally {
      this.streaming.delete(progress)
    }
  }

  /** The agent's stream for a download: taken once, by the agent the id was issued to. */
  accept(agent: AgentRecord, id: string, socket: WebSocket): void {
    const pending = this.#pending.get(id)
    if (pending === undefined || pending.agentId !== agent.id) {
      this.log.warn(`agent '${agent.name}' opened a download stream for an id it was not given`)
      return socket.close(CLOSE_INVALID, 'AGENT_MESSAGE_INVALID')
    }
    this.#pending.delete(id)
    pending.resolve(socket)
  }

  async #order(agentId: string, order: DownloadOrder, what: string, signal: AbortSignal): Promise<WebSocket> {
    const { name } = await this.hub.store.get(agentId)
    const sealKey = await this.hub.store.sealKey(agentId)
    // Counted and taken with no await between: the bound holds for requests that arrive together.
    if (this.#pending.size >= MAX_PENDING)
      throw new RetryLaterError(503, 'TOO_MANY_DOWNLOADS', `${MAX_PENDING} agent downloads are starting`, 30)
    const id = randomBytes(32).toString('base64url')
    try {
      return await new Promise<WebSocket>((resolve, reject) => {
        const settled = (): void => {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
        }
        const timer = setTimeout(() => {
          settled()
          reject(new ApiError(504, 'AGENT_TIMEOUT', `agent '${name}' did not start ${what} in time`))
        }, STREAM_WAIT_MS)
        const onAbort = (): void => {
          settled()
          reject(signal.reason as Error)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        this.#pending.set(id, {
          agentId,
          resolve: (socket) => {
            settled()
            resolve(socket)
          },
        })
        const sealed = sealForAgent(sealKey, id, order)
        this.hub.send(agentId, { type: 'download', id, sealed })
      })
    } finally {
      this.#pending.delete(id)
    }
  }
}
