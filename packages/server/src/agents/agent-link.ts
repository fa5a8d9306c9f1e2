// One agent's live link, as the server holds it: the hello (protocol version) first, then the messages
// of its runs. Anything that is not a valid message, a message about a run that is not the agent's, or
// no hello in time, ends the link (AGENT_MESSAGE_INVALID); an agent of another protocol version is told
// why and refused. Both are logged on the server too.
import type { WebSocket } from '@fastify/websocket'
import {
  AGENT_PROTOCOL_VERSION,
  CLOSE_INVALID,
  CLOSE_REFUSED,
  parseFromAgent,
  type FromAgent,
  type ToAgent,
} from '@strata/core/agent'
import { errorMessage } from '@strata/core'
import type { AgentRecord } from './agent-store.js'

const HELLO_MS = 10_000
const ACK_MS = 500
/**
 * A link that answers no ping for this long is dead (a NAT that forgot it, a cut cable): it is ended,
 * so that the agent shows offline and reconnects, rather than both sides waiting on TCP for hours.
 */
export const AGENT_PING_MS = 30_000

export interface LinkHandlers {
  readonly log: (level: 'info' | 'warn', line: string) => void
  /** The hello was accepted: the link is the agent's now. The last message of its session received. */
  readonly welcomed: (link: AgentLink, version: string, session: string) => number
  /** A message about one of the agent's runs; false when the run is not the agent's. */
  readonly message: (
    link: AgentLink,
    m: Exclude<FromAgent, { type: 'hello' | 'repository-answer' }>,
  ) => boolean
  /** An answer to a request about a repository; false when the request was not the agent's. */
  readonly answer: (link: AgentLink, m: Extract<FromAgent, { type: 'repository-answer' }>) => boolean
  readonly closed: (link: AgentLink) => void
}

export class AgentLink {
  #welcomed = false
  /** The last message received, acknowledged a little later (one ack for many messages). */
  #toAck: number | undefined
  #ackTimer: NodeJS.Timeout | undefined

  constructor(
    readonly agent: AgentRecord,
    readonly socket: WebSocket,
    readonly h: LinkHandlers,
  ) {
    const timer = setTimeout(() => this.#invalid('no hello'), HELLO_MS)
    let alive = true
    socket.on('pong', () => (alive = true))
    const pings = setInterval(() => {
      if (!alive) {
        h.log('warn', `agent '${agent.name}' dropped: no answer to a ping in ${AGENT_PING_MS / 1000} s`)
        return socket.terminate()
      }
      alive = false
      socket.ping()
    }, AGENT_PING_MS)
    socket.on('message', (data, isBinary) => this.#receive(isBinary ? undefined : data.toString()))
    socket.on('close', () => {
      clearTimeout(timer)
      clearTimeout(this.#ackTimer)
      clearInterval(pings)
      if (this.#welcomed) h.closed(this)
    })
    socket.on('error', () => undefined) // the close that follows says it
    socket.once('message', () => clearTimeout(timer))
  }

  send(m: ToAgent): void {
    this.socket.send(JSON.stringify(m))
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason.slice(0, 120))
  }

  #receive(text: string | undefined): void {
    let m: FromAgent
    try {
      if (text === undefined) throw new Error('a binary frame')
      m = parseFromAgent(text)
    } catch (error) {
      return this.#invalid(errorMessage(error))
    }
    if (!this.#welcomed) return this.#hello(m)
    if (m.type === 'hello') return this.#invalid('a second hello')
    if (m.type === 'repository-answer') {
      if (!this.h.answer(this, m)) this.#invalid(`an answer to request '${m.requestId}', not its own`)
      return
    }
    if (!this.h.message(this, m))
      return this.#invalid(`a message about run '${m.runId}', which is not its own`)
    this.#ack(m.seq)
  }

  #ack(seq: number): void {
    this.#toAck = seq
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined
      if (this.#toAck !== undefined && this.socket.readyState === this.socket.OPEN)
        this.send({ type: 'ack', seq: this.#toAck })
    }, ACK_MS)
  }

  #hello(m: FromAgent): void {
    if (m.type !== 'hello') return this.#invalid(`'${m.type}' before its hello`)
    if (m.protocol !== AGENT_PROTOCOL_VERSION) {
      const message =
        `this server speaks agent protocol ${AGENT_PROTOCOL_VERSION}, the agent (version ${m.version}) ` +
        `speaks ${m.protocol}: install the agent of the server's version`
      this.h.log('warn', `agent '${this.agent.name}' refused: ${message}`)
      this.send({ type: 'refused', code: 'AGENT_PROTOCOL_UNSUPPORTED', message })
      return this.close(CLOSE_REFUSED, 'protocol version')
    }
    if (m.session === undefined) return this.#invalid('a hello without its session')
    this.#welcomed = true
    const acked = this.h.welcomed(this, m.version, m.session)
    this.send({ type: 'welcome', agentId: this.agent.id, protocol: AGENT_PROTOCOL_VERSION, acked })
  }

  #invalid(reason: string): void {
    this.h.log('warn', `agent '${this.agent.name}' dropped: ${reason}`.slice(0, 500))
    this.close(CLOSE_INVALID, 'AGENT_MESSAGE_INVALID')
  }
}
