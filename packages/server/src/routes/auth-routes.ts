// Login, logout, the caller's own account: password, TOTP enrolment, API tokens.
import type { FastifyInstance } from 'fastify'
import { SESSION_COOKIE, userOf } from '../auth/guard.js'
import { verifyPassword } from '../auth/passwords.js'
import { newTotpSecret, totpUri, verifyTotp } from '../auth/totp.js'
import { ApiError, invalid } from '../errors.js'
import type { AppContext } from '../context.js'
import { LoginInput, PasswordChange, TokenInput, TotpCode } from '@strata/contract'
import { obj, str } from './schemas.js'

const authFailed = (): ApiError => new ApiError(401, 'AUTH_FAILED', 'wrong username, password or code')

export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { users, box } = ctx
  const everyone = { role: 'read-only' as const }

  app.post<{ Body: { username: string; password: string; totp?: string } }>(
    '/api/auth/login',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        body: LoginInput,
      },
    },
    async (request, reply) => {
      const { username, password, totp } = request.body
      const row = users.byName(username)
      // Hash even for an unknown user so that timing does not tell which usernames exist.
      const ok = await verifyPassword(password, row?.password_hash ?? 'scrypt$32768$8$1$AAAA$AAAA')
      if (row === undefined || !ok) throw authFailed()
      if (row.totp_secret !== null && !verifyTotp(box.open(row.totp_secret), totp ?? '')) throw authFailed()
      const session = users.openSession(row.id)
      ctx.log.info(`user '${username}' logged in`)
      reply.setCookie(SESSION_COOKIE, session.id, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/',
        expires: new Date(session.expires),
        secure: request.protocol === 'https',
      })
      return { user: users.get(row.id) }
    },
  )

  app.post('/api/auth/logout', { config: everyone, schema: { tags: ['auth'] } }, async (request, reply) => {
    const session = request.cookies[SESSION_COOKIE]
    if (session !== undefined) users.closeSession(session)
    reply.clearCookie(SESSION_COOKIE, { path: '/' })
    return reply.status(204).send()
  })

  app.get('/api/me', { schema: { tags: ['auth'] } }, async (request) => userOf(request))

  app.post<{ Body: { current: string; password: string } }>(
    '/api/me/password',
    {
      config: everyone,
      schema: {
        tags: ['auth'],
        body: PasswordChange,
      },
    },
    async (request, reply) => {
      const user = userOf(request)
      if (!(await verifyPassword(request.body.current, users.row(user.id).password_hash))) throw authFailed()
      await users.update(user.id, { password: request.body.password })
      return reply.status(204).send()
    },
  )

  app.post('/api/me/totp', { config: everyone, schema: { tags: ['auth'] } }, async (request) => {
    const user = userOf(request)
    const secret = newTotpSecret()
    users.setTotp(user.id, 'totp_pending', box.seal(secret))
    return { uri: totpUri(secret, user.username), secret }
  })

  app.post<{ Body: { code: string } }>(
    '/api/me/totp/confirm',
    { config: everyone, schema: { tags: ['auth'], body: TotpCode } },
    async (request, reply) => {
      const user = userOf(request)
      const pending = users.row(user.id).totp_pending
      if (pending === null) throw invalid('no TOTP enrolment in progress: POST /api/me/totp first')
      if (!verifyTotp(box.open(pending), request.body.code)) throw invalid('wrong code', 'body/code')
      users.setTotp(user.id, 'totp_secret', pending)
      users.setTotp(user.id, 'totp_pending', null)
      return reply.status(204).send()
    },
  )

  app.delete<{ Body: { code: string } }>(
    '/api/me/totp',
    { config: everyone, schema: { tags: ['auth'], body: TotpCode } },
    async (request, reply) => {
      const user = userOf(request)
      const secret = users.row(user.id).totp_secret
      if (secret !== null && !verifyTotp(box.open(secret), request.body.code))
        throw invalid('wrong code', 'body/code')
      users.setTotp(user.id, 'totp_secret', null)
      return reply.status(204).send()
    },
  )

  app.post<{ Body: { name: string } }>(
    '/api/me/tokens',
    { config: everyone, schema: { tags: ['auth'], body: TokenInput } },
    async (request, reply) =>
      reply.status(201).send(users.createToken(userOf(request).id, request.body.name)),
  )

  app.get('/api/me/tokens', { schema: { tags: ['auth'] } }, async (request) =>
    users.tokens(userOf(request).id),
  )

  app.delete<{ Params: { id: string } }>(
    '/api/me/tokens/:id',
    { config: everyone, schema: { tags: ['auth'], params: obj({ id: str() }, ['id']) } },
    async (request, reply) => {
      users.deleteToken(userOf(request).id, request.params.id)
      return reply.status(204).send()
    },
  )
}
