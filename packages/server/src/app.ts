// The Fastify application: cookies, the OpenAPI generator, the auth guard, the error shape, the API
// routes it is given and the web UI (static files with a fallback to index.html for the UI's own
// routes). Each route module comes bound to the services it needs (start-server.ts composes them).
// Routes are private unless marked public (see auth/guard.ts): here, the health check and the UI's
// files; the login marks itself.
import cookie from '@fastify/cookie'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { createReadStream, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Health } from '@strata/contract'
import type { Credentials } from './auth/credentials.js'
import { installGuard } from './auth/guard.js'
import { isUiPagePath } from './auth/request-path.js'
import type { ServerConfig } from './config.js'
import { installErrorHandler } from './http-errors.js'
import type { ServerLog } from './server-log.js'

/** What the application itself is given: its settings, the guard's credentials, the error log. */
export interface AppServices {
  readonly config: ServerConfig
  readonly credentials: Credentials
  readonly log: ServerLog
}

/** Adds routes to the application, with the services it was bound to. */
export type RouteModule = (app: FastifyInstance) => void

/** HTTPS served by the server itself (PEM certificate with its chain, and key); plain HTTP without. */
export interface AppTls {
  readonly cert: string
  readonly key: string
}

export async function buildApp(
  ctx: AppServices,
  modules: readonly RouteModule[] = [],
  tls?: AppTls,
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(tls === undefined ? {} : { https: { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' as const } }),
    logger: false,
    bodyLimit: 1024 * 1024,
    // A stopping server ends the connections clients hold open (idle or never used) instead of waiting.
    forceCloseConnections: true,
    // X-Forwarded-For/-Proto are believed only from the proxies the configuration names.
    trustProxy:
      typeof ctx.config.trustProxy === 'boolean' ? ctx.config.trustProxy : [...ctx.config.trustProxy],
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
  installGuard(app, ctx.credentials)
  installErrorHandler(app, (m) => ctx.log.error(m))
  app.get(
    '/api/health',
    { config: { public: true }, schema: { hide: true, response: { 200: Health } } },
    async (): Promise<Health> => ({ status: 'ok' }),
  )
  for (const add of modules) add(app)
  // Private like the rest: it maps every route, which an anonymous caller has no use for.
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await serveUi(app, ctx.config.webDir)
  return app
}

async function serveUi(app: FastifyInstance, webDir: string): Promise<void> {
  const built = existsSync(webDir)
  // The UI's files are public: every route registered in this plugin (one per file) is marked so.
  if (built)
    await app.register(async (ui) => {
      ui.addHook('onRoute', (route) => {
        route.config = { ...route.config, public: true }
      })
      await ui.register(fastifyStatic, { root: webDir, wildcard: false })
    })
  // Reached by a logged-in caller, or by anyone for a page path of the UI (the guard decides).
  app.setNotFoundHandler((request, reply) => {
    if (request.method !== 'GET' || !isUiPagePath(request.url)) {
      return reply.status(404).send({
        error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
      })
    }
    if (!built)
      return reply
        .status(404)
        .type('text/plain')
        .send('The web UI is not built: npm run build -w @strata/web')
    // Read each time, as the static routes do: a rebuilt UI is served without a restart.
    return reply.type('text/html; charset=utf-8').send(createReadStream(join(webDir, 'index.html')))
  })
}
