// File-level restore (operator): a restore point disk's filesystems, a folder's entries a page at a time,
// a search by name, and files and folders downloaded as they come out of the appliance (one regular file
// as itself; a selection as a zip, tar or tar.gz archive): nothing of the selection is kept on the server.
// Each point's disk is browsed through one shared session (files/file-sessions.ts); DELETE ends it.
import type { FastifyInstance, FastifyReply } from 'fastify'
import { pipeline } from 'node:stream/promises'
import { errorMessage, StrataError } from '@strata/core'
import { streamArchive, type FileRestoreSession } from '@strata/core/restore'
import {
  FileDownloadQuery,
  FileSearchQuery,
  FilesParams,
  FilesQuery,
  type ArchiveFormat,
} from '@strata/contract'
import { RetryLaterError } from '../errors.js'
import type { FileSessionKey, FileSessions } from '../files/file-sessions.js'
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

  app.get<{ Params: FilesParams }>(`${BASE}/filesystems`, options(undefined), async (request, reply) => {
    const session = await sessionOf(request.params)
    const filesystems = await session.filesystems(untilClientGone(reply))
    return { accelerator: session.accelerator, filesystems }
  })

  app.get<{ Params: FilesParams; Querystring: FilesQuery }>(
    `${BASE}/files`,
    options(FilesQuery),
    async (request, reply) => {
      const { fs, path, offset, limit } = request.query
      const session = await sessionOf(request.params)
      return session.list(path ?? '/', {
        fs,
        offset: offset === undefined ? undefined : Number(offset),
        limit: limit === undefined ? undefined : Number(limit),
        signal: untilClientGone(reply),
      })
    },
  )

  app.get<{ Params: FilesParams; Querystring: FileSearchQuery }>(
    `${BASE}/files/search`,
    options(FileSearchQuery),
    async (request, reply) => {
      const { fs, under, q, limit } = request.query
      const session = await sessionOf(request.params)
      const found = await session.search(q, {
        fs,
        under,
        limit: limit === undefined ? undefined : Number(limit),
        signal: untilClientGone(reply),
      })
      return found
    },
  )

  app.delete<{ Params: FilesParams }>(`${BASE}/files`, options(undefined), async (request, reply) => {
    await ctx.files.close(await keyOf(ctx, request.params))
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
  const roots = []
  for (const path of paths) roots.push(await session.prepare(path, query.fs, signal))
  const single =
    roots.length === 1 && query.format === undefined && (roots[0]!.stat.mode & 0o170000) === 0o100000
  const format = query.format ?? 'zip'
  const name = single ? fileName(roots[0]!.path) : `${archiveBase(roots.map((r) => r.path))}.${format}`
  const source = single ? await session.openFile(roots[0]!.path, signal) : undefined
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': single ? 'application/octet-stream' : CONTENT_TYPES[format],
    ...(single ? { 'content-length': String(roots[0]!.stat.size) } : {}),
    'content-disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(name)}`,
  })
  try {
    if (source !== undefined) {
      await pipeline(source, res, { signal })
    } else await streamArchive(session, paths, res, format, { fs: query.fs, signal })
  } catch (error) {
    // The status is sent: cutting the connection short is how the client learns the file is incomplete.
    res.destroy()
    if (!(signal.reason instanceof StrataError && signal.reason.code === 'CLIENT_GONE'))
      ctx.log.warn(`download of ${name} stopped: ${errorMessage(error)}`)
  }
}

/** A name safe in a Content-Disposition header: the last component, other bytes as '_'. */
function fileName(path: Buffer): string {
  const base = path.subarray(path.lastIndexOf(0x2f) + 1).toString('utf8')
  return base.replace(/[^A-Za-z0-9._ -]/g, '_').slice(0, 200) || 'file'
}

function archiveBase(paths: readonly Buffer[]): string {
  if (paths.length !== 1) return 'files'
  const base = fileName(paths[0]!)
  return base === 'file' && paths[0]!.length === 1 ? 'root' : base
}
