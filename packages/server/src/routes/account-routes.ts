// The caller's own account: who they are, their password, TOTP enrolment and API tokens. Any role.
import type { FastifyInstance } from 'fastify'
import { PasswordChange, TOKEN_DEFAULT_DAYS, TokenInput, TotpCode } from '@strata/contract'
import { userOf } from '../auth/guard.js'
import { newTotpSecret, totpStep, totpUri } from '../auth/totp.js'
import type { Users } from '../auth/users.js'
import type { ApiTokens } from '../auth/tokens.js'
import { invalid } from '../errors.js'
import { untilClientGone } from '../http-signal.js'
import type { EventStreams } from '../runs/event-streams.js'
import type { SecretBox } from '../secret-box.js'
import { totpField } from '../secret-fields.js'
import type { ServerLog } from '../server-log.js'
import { authFailed, startSession } from './auth-routes.js'
import { idParams } from './schemas.js'

const everyone = { role: 'read-only' as const }

/** What the account routes are given. */
export interface AccountRouteServices {
  readonly users: Users
  /** Seals the users' TOTP secrets. */
  readonly box: SecretBox
  readonly tokens: ApiTokens
  /** A user's event streams end with their password or token. */
  readonly streams: EventStreams
  readonly log: ServerLog
}

export function accountRoutes(app: FastifyInstance, ctx: AccountRouteServices): void {
  const { users, box } = ctx

  app.get('/api/me', { schema: { tags: ['auth'] } }, async (request) => userOf(request))

  // A new password ends every session and token of the user; the caller gets a fresh session.
  app.post<{ Body: PasswordChange }>(
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
      const stored = (await users.row(user.id)).password_hash
      if (!(await users.hasher.verify(request.body.current, stored, untilClientGone(reply))))
        throw authFailed()
      await users.update(user.id, { password: request.body.password })
      ctx.streams.endUser(user.id)
      ctx.log.info(`user ${JSON.stringify(user.username)} changed their password; their tokens are revoked`)
      if (request.credential?.via === 'session') await startSession(ctx, request, reply, user.id)
      return reply.status(204).send()
    },
  )

  app.post('/api/me/totp', { config: everyone, schema: { tags: ['auth'] } }, async (request) => {
    const user = userOf(request)
    const secret = newTotpSecret()
    await users.setTotp(user.id, 'totp_pending', box.seal(secret, totpField(user.id, 'totp_pending')))
    return { uri: totpUri(secret, user.username), secret }
  })

  app.post<{ Body: TotpCode }>(
    '/api/me/totp/confirm',
    { config: everyone, schema: { tags: ['auth'], body: TotpCode } },
    async (request, reply) => {
      const user = userOf(request)
      const pending = (await users.row(user.id)).totp_pending
      if (pending === null) throw invalid('no TOTP enrolment in progress: POST /api/me/totp first')
      const secret = box.open(pending, totpField(user.id, 'totp_pending'))
      if (!(await useCode(ctx, user.id, secret, request.body.code))) throw invalid('wrong code', 'body/code')
      await users.setTotp(user.id, 'totp_secret', box.seal(secret, totpField(user.id, 'totp_secret')))
      await users.setTotp(user.id, 'totp_pending', null)
      return reply.status(204).send()
    },
  )

  app.delete<{ Body: TotpCode }>(
    '/api/me/totp',
    { config: everyone, schema: { tags: ['auth'], body: TotpCode } },
    async (request, reply) => {
      const user = userOf(request)
      const sealed = (await users.row(user.id)).totp_secret
      if (sealed !== null) {
        const secret = box.open(sealed, totpField(user.id, 'totp_secret'))
        if (!(await useCode(ctx, user.id, secret, request.body.code)))
          throw invalid('wrong code', 'body/code')
      }
      await users.setTotp(user.id, 'totp_secret', null)
      return reply.status(204).send()
    },
  )

  tokenRoutes(app, ctx)
}

/** A code of a time step this user has not used yet, which is then used up. */
async function useCode(
  ctx: { readonly users: Users },
  userId: string,
  secret: string,
  code: string,
): Promise<boolean> {
  const step = totpStep(secret, code)
  return step !== undefined && (await ctx.users.useTotpStep(userId, step))
}

function tokenRoutes(app: FastifyInstance, ctx: AccountRouteServices): void {
  app.post<{ Body: TokenInput }>(
    '/api/me/tokens',
    {
      config: everyone,
      schema: {
        tags: ['auth'],
        body: TokenInput,
      },
    },
    async (request, reply) => {
      const { name, expiresInDays } = request.body
      const token = await ctx.tokens.create(userOf(request).id, name, expiresInDays ?? TOKEN_DEFAULT_DAYS)
      return reply.status(201).send(token)
    },
  )

  app.get('/api/me/tokens', { schema: { tags: ['auth'] } }, async (request) =>
    ctx.tokens.list(userOf(request).id),
  )

  app.delete<{ Params: { id: string } }>(
    '/api/me/tokens/:id',
    { config: everyone, schema: { tags: ['auth'], params: idParams } },
    async (request, reply) => {
      await ctx.tokens.revoke(userOf(request).id, request.params.id)
      ctx.streams.endToken(request.params.id)
      return reply.status(204).send()
    },
  )
}
