// Runs: the list, one run's task tree, and the live stream of task events and run summaries (SSE).
import type { FastifyInstance } from 'fastify'
import type { TaskNode } from '@strata/core/engine'
import type { AppContext } from '../context.js'
import type { RunStatus } from '../runs/run-store.js'
import { obj, str } from './schemas.js'

const STATUSES = ['pending', 'success', 'failure', 'interrupted', 'skipped']
const KEEP_ALIVE_MS = 15_000

export function runRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Querystring: { jobId?: string; status?: RunStatus; limit?: string } }>(
    '/api/runs',
    {
      schema: {
        tags: ['runs'],
        querystring: obj({
          jobId: str({ maxLength: 100 }),
          status: { type: 'string', enum: STATUSES },
          limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
        }),
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
        params: obj({ runId: str({ maxLength: 100, pattern: '^[A-Za-z0-9._-]+$' }) }, ['runId']),
      },
    },
    async (request) => {
      return toApiTree(await ctx.runs.tree(request.params.runId))
    },
  )

  // Each stream counts against its user's cap and ends with its session or token (event-streams.ts);
  // the keep-alive tick also re-checks the credential, for those that expire while the stream is open.
  app.get('/api/events', { schema: { tags: ['runs'] } }, (request, reply) => {
    const credential = request.credential!
    const res = reply.raw
    // Registered first: past the cap this throws (429) before anything is written.
    const unregister = ctx.streams.add(credential, () => res.end())
    reply.hijack()
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
    const onClosing = (): void => void res.end()
    ctx.bus.on('task', onTask)
    ctx.bus.on('run', onRun)
    ctx.closing.addEventListener('abort', onClosing)
    // A comment now and then keeps proxies and browsers from closing an idle stream.
    const keepAlive = setInterval(() => {
      if (ctx.credentials.stillValid(credential)) res.write(': keep-alive\n\n')
      else res.end()
    }, KEEP_ALIVE_MS)
    // The response closes when it is ended here or when the client goes away: either way, undo it all.
    res.once('close', () => {
      clearInterval(keepAlive)
      unregister()
      ctx.bus.off('task', onTask)
      ctx.bus.off('run', onRun)
      ctx.closing.removeEventListener('abort', onClosing)
    })
  })
}

/** The engine's task node as docs/api.md names its fields (eta in ms). */
export function toApiTree(node: TaskNode): Record<string, unknown> {
  const { etaMs, children, ...rest } = node
  return { ...rest, ...(etaMs === undefined ? {} : { eta: etaMs }), children: children.map(toApiTree) }
}
