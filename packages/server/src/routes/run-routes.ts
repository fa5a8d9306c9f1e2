// Runs: the list, one run's task tree, and the live stream of task events and run summaries (SSE).
import type { FastifyInstance } from 'fastify'
import type { TaskNode } from '@strata/core/engine'
import type { AppContext } from '../context.js'
import type { RunStatus } from '../runs/run-store.js'
import { RunParams, RunsQuery } from '@strata/contract'

export function runRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: { jobId?: string; status?: RunStatus; limit?: string } }>(
    '/api/runs',
    {
      schema: {
        tags: ['runs'],
        querystring: RunsQuery,
      },
    },
    async (request) => {
      const { jobId, status, limit } = request.query
      return ctx.runs.list({ jobId, status, limit: limit === undefined ? 100 : Number(limit) })
    },
  )

  app.get<{ Params: { runId: string } }>(
    '/api/runs/:runId',
    {
      schema: {
        tags: ['runs'],
        params: RunParams,
      },
    },
    async (request) => {
      return toApiTree(await ctx.runs.tree(request.params.runId))
    },
  )

  app.get('/api/events', { schema: { tags: ['runs'] } }, (request, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write(': connected\n\n')
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    }
    const onTask = (data: unknown): void => send('task', data)
    const onRun = (data: unknown): void => send('run', data)
    ctx.bus.on('task', onTask)
    ctx.bus.on('run', onRun)
    // A comment now and then keeps proxies and browsers from closing an idle stream.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
    const onClosing = (): void => {
      close()
      res.end()
    }
    const close = (): void => {
      clearInterval(keepAlive)
      ctx.bus.off('task', onTask)
      ctx.bus.off('run', onRun)
      ctx.closing.removeEventListener('abort', onClosing)
    }
    request.raw.on('close', close)
    ctx.closing.addEventListener('abort', onClosing)
  })
}

/** The engine's task node as docs/api.md names its fields (eta in ms). */
export function toApiTree(node: TaskNode): Record<string, unknown> {
  const { etaMs, children, ...rest } = node
  return { ...rest, ...(etaMs === undefined ? {} : { eta: etaMs }), children: children.map(toApiTree) }
}
