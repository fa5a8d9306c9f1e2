// A restore point's disk as a VHD download, streamed as it is read from the repository: no temporary
// file (the VHD's layout, BAT included, is planned from the point's index before the first byte), at
// most MAX_DOWNLOADS at once server-wide (more get 503 with Retry-After), and stopped as soon as the
// client goes away or stops reading for STALL_MS: the repository is read no further.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import { errorMessage, StrataError } from '@strata/core'
import { diskVhdBytes, planDiskVhd } from '@strata/core/disks'
import { DiskReader, resolvePoint } from '@strata/core/repository'
import { RetryLaterError } from '../errors.js'
import { untilClientGone } from '../http-signal.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { ServerLog } from '../server-log.js'
import type { AgentDownloads } from '../agents/agent-downloads.js'
import { DiskParams } from '@strata/contract'

export const MAX_DOWNLOADS = 3
/** A client that takes no bytes for this long is gone too. */
const STALL_MS = 5 * 60_000
/** Blocks read ahead of the socket per download. */
const READ_AHEAD = 4

interface Params {
  id: string
  pointId: string
  n: string
}

/** What the download route is given. */
export interface DiskDownloadServices {
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly log: ServerLog
  /** Aborted when the server stops: downloads end. */
  readonly closing: AbortSignal
  /** Points of a repository an agent holds come from that agent (agents/agent-downloads.ts). */
  readonly agentDownloads?: AgentDownloads
}

export function diskDownloadRoute(app: FastifyInstance, ctx: DiskDownloadServices): void {
  let active = 0
  app.get<{ Params: Params }>(
    '/api/repositories/:id/points/:pointId/disks/:n.vhd',
    {
      config: { role: 'operator' },
      schema: {
        tags: ['restores'],
        params: DiskParams,
      },
    },
    async (request, reply) => {
      const record = await ctx.repositories.get(request.params.id)
      if (active >= MAX_DOWNLOADS)
        throw new RetryLaterError(
          503,
          'TOO_MANY_DOWNLOADS',
          `${MAX_DOWNLOADS} disk downloads are running; try again when one ends`,
          30,
        )
      active++
      try {
        const signal = AbortSignal.any([untilClientGone(reply), ctx.closing])
        const { pointId, n } = request.params
        const agentId = await ctx.agentDownloads?.agentOfRepository(record.id)
        if (agentId !== undefined)
          return await ctx.agentDownloads!.streamDisk(
            reply,
            agentId,
            record,
            { pointId, disk: Number(n) },
            signal,
          )
        const repository = await ctx.repositoryService.open(record.id, signal)
        const ref = await resolvePoint(repository, request.params.pointId, signal)
        // Closed on every path (done, abandoned, failed): its cached chunks go back to the process's
        // shared memory (dropped, they would stay alive in the codec threads: shared/shared-memory.ts).
        using reader = await DiskReader.open(repository, ref, Number(request.params.n), signal)
        const name = `${request.params.pointId.replace(/[^A-Za-z0-9._-]/g, '_')}-disk${request.params.n}.vhd`
        await streamVhd(reply, reader, name, signal, (e) =>
          ctx.log.warn(`download of ${name} from repository '${record.name}' stopped: ${errorMessage(e)}`),
        )
      } finally {
        active--
      }
    },
  )
}

async function streamVhd(
  reply: FastifyReply,
  reader: DiskReader,
  name: string,
  signal: AbortSignal,
  onStopped: (error: unknown) => void,
): Promise<void> {
  const plan = planDiskVhd(reader)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(plan.length),
    'content-disposition': `attachment; filename="${name}"`,
  })
  try {
    // Each piece reaches the socket before the next is asked for: the blocks' bytes are lent.
    for await (const bytes of diskVhdBytes(reader, plan, READ_AHEAD, signal))
      await written(res, bytes, signal)
    res.end()
  } catch (error) {
    // The status is sent already: cutting the connection short of Content-Length is the only way to
    // tell the client that the file is incomplete.
    res.destroy()
    if (!signal.aborted || errorCode(signal.reason) !== 'CLIENT_GONE') onStopped(error)
  }
}

const errorCode = (e: unknown): string | undefined => (e instanceof StrataError ? e.code : undefined)

export function written(res: ServerResponse, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const settle = (error?: unknown): void => {
      clearTimeout(stalled)
      signal.removeEventListener('abort', onAbort)
      if (error === undefined || error === null) resolve()
      else reject(error)
    }
    const onAbort = (): void => settle(signal.reason)
    const stalled = setTimeout(
      () => settle(new StrataError('CLIENT_STALLED', `the client took no data for ${STALL_MS / 1000} s`)),
      STALL_MS,
    )
    signal.addEventListener('abort', onAbort, { once: true })
    res.write(bytes, settle)
  })
}
