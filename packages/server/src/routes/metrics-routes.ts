// GET /metrics in Prometheus' text format, on the API's address: private like every route (a session
// or an API token, any role). Without authentication only on the separate address the configuration
// names (metrics/metrics-listener.ts).
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../metrics/metrics.js'

/** What the metrics route is given. */
export interface MetricsRouteServices {
  readonly metrics: Metrics
}

export function metricsRoutes(app: FastifyInstance, ctx: MetricsRouteServices): void {
  app.get('/metrics', { schema: { tags: ['metrics'] } }, async (_request, reply) => {
    const text = await ctx.metrics.text()
    return reply.type(ctx.metrics.contentType).send(text)
  })
}
