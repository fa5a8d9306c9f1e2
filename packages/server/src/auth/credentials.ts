// The credentials a request can carry: a session cookie (the web UI) or a Bearer API token (scripts).
// An Authorization header, when present, is the only credential looked at: a wrong token never falls
// back to a cookie the browser happened to send.
import type { FastifyRequest } from 'fastify'
import type { AgentRecord } from '../agents/agent-store.js'
import type { ApiTokens } from './tokens.js'
import type { User, Users } from './users.js'

export const SESSION_COOKIE = 'strata_session'

export interface Credential {
  readonly user: User
  readonly via: 'session' | 'token'
  /** The session's id (as sent by the client) or the token's id: what logout or revocation ends. */
  readonly id: string
}

export class Credentials {
  constructor(
    readonly users: Users,
    readonly tokens: ApiTokens,
    /** Agents' tokens, which open only the agent routes (and those take no other credential). */
    readonly agents?: { byToken(token: string): Promise<AgentRecord | undefined> },
  ) {}

  /** The agent whose Bearer token the request carries. */
  async authenticateAgent(request: FastifyRequest): Promise<AgentRecord | undefined> {
    const match = /^Bearer\s+(\S{1,200})$/i.exec(request.headers.authorization ?? '')
    return match === null ? undefined : this.agents?.byToken(match[1]!)
  }

  async authenticate(request: FastifyRequest): Promise<Credential | undefined> {
    const header = request.headers.authorization
    if (header !== undefined) {
      const match = /^Bearer\s+(\S{1,200})$/i.exec(header)
      const token = match === null ? undefined : await this.tokens.use(match[1]!)
      const user = token && (await this.users.find(token.userId))
      return user && token && { user, via: 'token', id: token.id }
    }
    const session = request.cookies[SESSION_COOKIE]
    if (session === undefined || session.length > 200) return undefined
    const user = await this.users.bySession(session)
    return user && { user, via: 'session', id: session }
  }

  /** Whether a credential still holds (a long-lived event stream checks now and then). */
  async stillValid(credential: Credential): Promise<boolean> {
    return credential.via === 'session'
      ? (await this.users.bySession(credential.id))?.id === credential.user.id
      : await this.tokens.isLive(credential.id)
  }
}
