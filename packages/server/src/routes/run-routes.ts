// Runs: the list, one run's task tree, and the live stream of task events and run summaries (SSE).
import type { FastifyInstance } from 'fastify'
import type { TaskNode } from '@strata/core/engine'
import type { Credentials } from '../auth/credentials.js'
import { RunParams, RunsQuery } from '@strata/contract'
import { invalid } from '../errors.js'
import type { EventStreams } from '../runs/event-streams.js'
import type { RunBus } from '../runs/run-bus.js'
import type { RunManager } from '../runs/run-manager.js'

const KEEP_ALIVE_MS = 15_000

/** What the run routes are given. */
export interface RunRouteServices {
  readonly runs: RunManager
  readonly bus: RunBus
  /** The open event streams, ended with what authenticated them. */
  readonly streams: EventStreams
  readonly credentials: Credentials
  /** Aborted when the server stops: event streams end. */
  readonly closing: AbortSignal
  /** The agent's name when a run out on it cannot be heard from now (agents/agent-hub.ts). */
  readonly unreachable?: (runId: string) => string | undefined
}

export function runRoutes(app: FastifyInstance, ctx: RunRouteServices): void {
  app.get<{ Querystring: RunsQuery }>(
    '/api/runs',
    {
      schema: {
        tags: ['runs'],
        querystring: RunsQuery,
      },
    },
    async (request) => {
      const q = request.query
      const rows = await ctx.runs.list({
        jobId: q.job ?? q.jobId,
        status: q.state ?? q.status,
        since: q.since === undefined ? undefined : parseSince(q.since),
        limit: q.limit === undefined ? 100 : Number(q.limit),
        before: q.before === undefined ? undefined : await cursor(ctx.runs, q.before),
      })
      // A run whose agent is offline is not failed: it goes on there, and says so.
      return rows.map((r) => {
        const agent = r.status === 'pending' ? ctx.unreachable?.(r.runId) : undefined
        return agent === undefined ? r : { ...r, agentUnreachable: agent }
      })
    },
  )

  app.get<{ Params: { runId: string } }>(
    '/api/runs/:runId',
    { schema: { tags: ['runs'], params: RunParams } },
    async (request) => {
      return toApiTree(await ctx.runs.tree(request.params.runId))
    },
  )

  // The run as plain text, for a ticket or a mail (the same text as `strata backup logs RUNID --text`).
  app.get<{ Params: { runId: string } }>(
    '/api/runs/:runId/report',
    { schema: { tags: ['runs'], params: RunParams } },
    async (request, reply) =>
      reply
        .header('content-type', 'text/plain; charset=utf-8')
        .send(await ctx.runs.report(request.params.runId)),
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
      void ctx.credentials.stillValid(credential).then(
        (valid) => (valid ? res.write(': keep-alive\n\n') : res.end()),
        () => res.end(), // cannot tell: the client reconnects and is checked again
      )
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

/** Where the page after run `runId` starts; an unknown run is a bad request (the list changed too much). */
async function cursor(runs: RunManager, runId: string): Promise<{ start: number; runId: string }> {
  const run = await runs.get(runId)
  if (run === undefined) throw invalid(`querystring/before: no run '${runId}'`, 'querystring/before')
  return { start: run.start, runId }
}

/** Milliseconds since the epoch, or an ISO 8601 date (UTC unless it says otherwise). */
function parseSince(text: string): number {
  const time = /^\d+$/.test(text)
    ? Number(text)
    : /^\d{4}-\d\d-\d\d$/.test(text)
      ? Date.parse(`${text}T00:00:00Z`)
      : /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?$/.test(text)
        ? Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`)
        : NaN
  if (!Number.isSafeInteger(time))
    throw invalid(`querystring/since: '${text}' is neither a time in ms nor an ISO date`, 'querystring/since')
  return time
}

/** The engine's task node as docs/api.md names its fields (eta in ms). */
export function toApiTree(node: TaskNode): Record<string, unknown> {
  const { etaMs, children, ...rest } = node
  return { ...rest, ...(etaMs === undefined ? {} : { eta: etaMs }), children: children.map(toApiTree) }
}
