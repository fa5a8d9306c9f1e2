// GET /metrics in Prometheus' text format, on the API's address: private like every route (a session
// or an API token, any role). Without authentication only on the separate address the configuration
// names (metrics/metrics-listener.ts).
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'

export function metricsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/metrics', { schema: { tags: ['metrics'] } }, async (_request, reply) => {
    const text = await ctx.reporting.metrics.text()
    return reply.type(ctx.reporting.metrics.contentType).send(text)
  })
}
