// Login and logout. A login is counted against its client address and its user name before any
// password is hashed (auth/login-limits.ts); unknown users and wrong passwords cost the same hash and
// get the same answer; a TOTP code is accepted once. Failed logins are logged with the user name and
// the client address, never the password.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SESSION_COOKIE } from '../auth/credentials.js'
import { totpStep } from '../auth/totp.js'
import type { LoginLimits } from '../auth/login-limits.js'
import type { UserRow, Users } from '../auth/users.js'
import { LoginInput } from '@strata/contract'
import { ApiError } from '../errors.js'
import { untilClientGone } from '../http-signal.js'
import type { EventStreams } from '../runs/event-streams.js'
import type { SecretBox } from '../secret-box.js'
import { totpField } from '../secret-fields.js'
import type { ServerLog } from '../server-log.js'

export const authFailed = (): ApiError => new ApiError(401, 'AUTH_FAILED', 'wrong username, password or code')

/** What the login and logout routes are given. */
export interface AuthRouteServices {
  readonly users: Users
  /** Opens the users' TOTP secrets. */
  readonly box: SecretBox
  readonly loginLimits: LoginLimits
  /** A session's event streams end at its logout. */
  readonly streams: EventStreams
  readonly log: ServerLog
}

export function authRoutes(app: FastifyInstance, ctx: AuthRouteServices): void {
  app.post<{ Body: LoginInput }>(
    '/api/auth/login',
    {
      config: { public: true },
      bodyLimit: 4096,
      schema: {
        tags: ['auth'],
        body: LoginInput,
      },
    },
    async (request, reply) => {
      const { username, password, totp } = request.body
      ctx.loginLimits.attempt(request.ip, username)
      const row = await ctx.users.byName(username)
      const ok = await ctx.users.hasher.verify(password, row?.password_hash, untilClientGone(reply))
      if (row === undefined || !ok || !(await totpAccepted(ctx, row, totp))) {
        ctx.loginLimits.failed(username)
        // JSON quoting: a name with a newline cannot forge a line of the log.
        ctx.log.warn(`login failed for user ${JSON.stringify(username)} from ${request.ip}`)
        throw authFailed()
      }
      ctx.loginLimits.succeeded(username)
      ctx.log.info(`user ${JSON.stringify(username)} logged in from ${request.ip}`)
      await startSession(ctx, request, reply, row.id)
      return { user: await ctx.users.get(row.id) }
    },
  )

  app.post(
    '/api/auth/logout',
    { config: { role: 'read-only' }, schema: { tags: ['auth'] } },
    async (request, reply) => {
      const session = request.credential?.via === 'session' ? request.credential.id : undefined
      if (session !== undefined) {
        await ctx.users.closeSession(session)
        ctx.streams.endSession(session)
      }
      reply.clearCookie(SESSION_COOKIE, { path: '/' })
      return reply.status(204).send()
    },
  )
}

/** With TOTP enrolled, the code of a time step not used before (the step is then used up). */
async function totpAccepted(
  ctx: Pick<AuthRouteServices, 'users' | 'box'>,
  row: UserRow,
  code: string | undefined,
): Promise<boolean> {
  if (row.totp_secret === null) return true
  const secret = ctx.box.open(row.totp_secret, totpField(row.id, 'totp_secret'))
  const step = totpStep(secret, code ?? '')
  return step !== undefined && (await ctx.users.useTotpStep(row.id, step))
}

/** Opens a session and sets its cookie: HttpOnly, SameSite=Strict, Secure when the client came over TLS. */
export async function startSession(
  ctx: { readonly users: Users },
  request: FastifyRequest,
  reply: FastifyReply,
  userId: string,
): Promise<void> {
  const session = await ctx.users.openSession(userId)
  reply.setCookie(SESSION_COOKIE, session.id, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    expires: new Date(session.expires),
    // request.protocol believes X-Forwarded-Proto only from the proxies named by trustProxy.
    secure: request.protocol === 'https',
  })
}
