// File-level restore (operator): a restore point disk's filesystems, a folder's entries a page at a time,
// a search by name, and files and folders downloaded as they come out of the appliance (one regular file
// as itself; a selection as a zip, tar or tar.gz archive): nothing of the selection is kept on the server.
// Each point's disk is browsed through one shared session (files/file-sessions.ts); DELETE ends it.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { errorMessage, StrataError } from '@strata/core'
import { prepareDownload, type FileRestoreSession } from '@strata/core/restore'
import {
  FileDownloadQuery,
  FileSearchQuery,
  FilesParams,
  FilesQuery,
  type ArchiveFormat,
} from '@strata/contract'
import { RetryLaterError } from '../errors.js'
import type { FileSessionKey, FileSessions } from '../files/file-sessions.js'
import type { AgentFiles } from '../agents/agent-files.js'
import type { FileCall } from '@strata/core/agent'
import { untilClientGone } from '../http-signal.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { ServerLog } from '../server-log.js'

/** Downloads running at once server-wide; more get 503 with Retry-After. */
export const MAX_FILE_DOWNLOADS = 3
const BASE = '/api/repositories/:id/points/:pointId/disks/:n'
const CONTENT_TYPES: Record<ArchiveFormat, string> = {
  zip: 'application/zip',
  tar: 'application/x-tar',
  'tar.gz': 'application/gzip',
}

/** What the file routes are given. */
export interface FileRouteServices {
  readonly repositories: RepositoryStore
  readonly files: FileSessions
  readonly log: ServerLog
  /** Aborted when the server stops: downloads end. */
  readonly closing: AbortSignal
  /** The repositories assigned to an agent: browsed and downloaded from on that agent. */
  readonly agentFiles?: AgentFiles
}

export function fileRoutes(app: FastifyInstance, ctx: FileRouteServices): void {
  const sessionOf = async (params: FilesParams): Promise<FileRestoreSession> =>
    ctx.files.get(await keyOf(ctx, params))
  const options = (querystring: unknown) => ({
    config: { role: 'operator' as const },
    schema: {
      tags: ['restores'],
      params: FilesParams,
      ...(querystring === undefined ? {} : { querystring }),
    },
  })

  /** The agent's answer when the repository is an agent's; undefined when the server browses it here. */
  const onAgent = async (params: FilesParams, call: FileCall, reply: FastifyReply) => {
    const key = await keyOf(ctx, params)
    if (ctx.agentFiles === undefined || (await ctx.agentFiles.agentOf(key.repositoryId)) === undefined)
      return undefined
    return ctx.agentFiles.call(key, call, untilClientGone(reply))
  }

  app.get<{ Params: FilesParams }>(`${BASE}/filesystems`, options(undefined), async (request, reply) => {
    const remote = await onAgent(request.params, { kind: 'filesystems' }, reply)
    if (remote !== undefined) return remote
    const session = await sessionOf(request.params)
    const filesystems = await session.filesystems(untilClientGone(reply))
    return { accelerator: session.accelerator, filesystems }
  })

  app.get<{ Params: FilesParams; Querystring: FilesQuery }>(
    `${BASE}/files`,
    options(FilesQuery),
    async (request, reply) => {
      const { fs, path, offset, limit } = request.query
      const page = {
        fs,
        offset: offset === undefined ? undefined : Number(offset),
        limit: limit === undefined ? undefined : Number(limit),
      }
      const remote = await onAgent(request.params, { kind: 'list', path: path ?? '/', ...page }, reply)
      if (remote !== undefined) return remote
      const session = await sessionOf(request.params)
      return session.list(path ?? '/', { ...page, signal: untilClientGone(reply) })
    },
  )

  app.get<{ Params: FilesParams; Querystring: FileSearchQuery }>(
    `${BASE}/files/search`,
    options(FileSearchQuery),
    async (request, reply) => {
      const { fs, under, q, limit } = request.query
      const asked = { fs, under, limit: limit === undefined ? undefined : Number(limit) }
      const remote = await onAgent(request.params, { kind: 'search', q, ...asked }, reply)
      if (remote !== undefined) return remote
      const session = await sessionOf(request.params)
      return session.search(q, { ...asked, signal: untilClientGone(reply) })
    },
  )

  app.delete<{ Params: FilesParams }>(`${BASE}/files`, options(undefined), async (request, reply) => {
    const remote = await onAgent(request.params, { kind: 'close' }, reply)
    if (remote === undefined) await ctx.files.close(await keyOf(ctx, request.params))
    return reply.status(204).send()
  })

  let active = 0
  app.get<{ Params: FilesParams; Querystring: FileDownloadQuery }>(
    `${BASE}/files/download`,
    options(FileDownloadQuery),
    async (request, reply) => {
      if (active >= MAX_FILE_DOWNLOADS)
        throw new RetryLaterError(
          503,
          'TOO_MANY_DOWNLOADS',
          `${MAX_FILE_DOWNLOADS} file downloads are running; try again when one ends`,
          30,
        )
      active++
      try {
        const key = await keyOf(ctx, request.params)
        const agentId = await ctx.agentFiles?.agentOf(key.repositoryId)
        if (agentId !== undefined) return await ctx.agentFiles!.download(reply, agentId, key, request.query)
        const session = await sessionOf(request.params)
        await download(session, request.query, reply, ctx)
      } finally {
        active--
      }
    },
  )
}

/** The session's key; an unknown repository is a 404 before any appliance starts. */
async function keyOf(ctx: FileRouteServices, params: FilesParams): Promise<FileSessionKey> {
  await ctx.repositories.get(params.id)
  return { repositoryId: params.id, pointId: params.pointId, disk: Number(params.n) }
}

async function download(
  session: FileRestoreSession,
  query: FileDownloadQuery,
  reply: FastifyReply,
  ctx: FileRouteServices,
): Promise<void> {
  const paths = typeof query.path === 'string' ? [query.path] : query.path
  const signal = AbortSignal.any([untilClientGone(reply), ctx.closing])
  // Everything that can be refused with a status is checked before the first byte is sent.
  const file = await prepareDownload(session, { paths, fs: query.fs, format: query.format }, signal)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, downloadHeaders(file))
  try {
    await file.write(res, signal)
  } catch (error) {
    // The status is sent: cutting the connection short is how the client learns the file is incomplete.
    res.destroy()
    if (!(signal.reason instanceof StrataError && signal.reason.code === 'CLIENT_GONE'))
      ctx.log.warn(`download of ${file.name} stopped: ${errorMessage(error)}`)
  }
}

/** The answer's headers for a file (its length) or an archive (chunked, its content type). */
export function downloadHeaders(file: {
  name: string
  length?: number
  format?: ArchiveFormat
}): Record<string, string> {
  const { name } = file
  return {
    'content-type': file.format === undefined ? 'application/octet-stream' : CONTENT_TYPES[file.format],
    ...(file.length === undefined ? {} : { 'content-length': String(file.length) }),
    'content-disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(name)}`,
  }
}
