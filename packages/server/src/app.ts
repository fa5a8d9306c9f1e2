// The Fastify application: cookies, the OpenAPI generator, the auth guard, the error shape, every API
// route and the web UI (static files with a fallback to index.html for the UI's own routes).
import cookie from '@fastify/cookie'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { installGuard } from './auth/guard.js'
import type { AppContext } from './context.js'
import { installErrorHandler } from './http-errors.js'
import { authRoutes } from './routes/auth-routes.js'
import { userRoutes } from './routes/user-routes.js'

export type RouteModule = (app: FastifyInstance, ctx: AppContext) => void

export async function buildApp(
  ctx: AppContext,
  modules: readonly RouteModule[] = [],
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    // Strict validation: no silent coercion ("5" is not 5) and no silent removal of unknown fields.
    // `errorMessage` is @strata/contract's wording of a pattern for people (see its problems.ts).
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        allErrors: false,
        keywords: ['errorMessage'],
      },
    },
  })
  await app.register(cookie)
  await app.register(swagger, {
    openapi: {
      info: { title: 'Strata server API', version: '0.1.0', description: 'See docs/api.md' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'strata_session' },
          token: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
  })
  installGuard(app, ctx.users)
  installErrorHandler(app, (m) => ctx.log.error(m))
  for (const add of [authRoutes, userRoutes, ...modules]) add(app, ctx)
  app.get('/api/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  )
  await serveUi(app, ctx.config.webDir)
  return app
}

async function serveUi(app: FastifyInstance, webDir: string): Promise<void> {
  const built = existsSync(webDir)
  if (built) await app.register(fastifyStatic, { root: webDir, wildcard: false })
  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/api/') || request.method !== 'GET') {
      return reply.status(404).send({
        error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
      })
    }
    if (!built)
      return reply
        .status(404)
        .type('text/plain')
        .send('The web UI is not built: npm run build -w @strata/web')
    return reply.sendFile('index.html')
  })
}
