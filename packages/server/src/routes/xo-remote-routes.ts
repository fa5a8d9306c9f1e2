// XO remotes (docs/migrate-from-xo.md): added and removed by an admin (the key and S3 keys write-only),
// browsed by anyone logged in, restored from by an operator (a disk as a download, a VM onto a pool as a
// run) and imported into a repository by an admin, as a run that DELETE cancels. Strata only reads them.
import type { FastifyInstance, FastifyReply } from 'fastify'
import {
  IdParams,
  XoDiskParams,
  XoImportInput,
  XoPointsQuery,
  XoRemoteInput,
  XoRestoreInput,
  type XoPoint,
  type XoRemote,
  type XoVm,
} from '@strata/contract'
import type { XoPointSummary } from '@strata/core/xo'
import { conflict } from '../errors.js'
import { untilClientGone } from '../http-signal.js'
import type { ServerLog } from '../server-log.js'
import type { XoDownloads } from '../xo-remotes/xo-download.js'
import type { XoImportRunner } from '../xo-remotes/xo-import-runner.js'
import type { XoRemoteService } from '../xo-remotes/xo-remote-service.js'
import type { XoRestoreRunner } from '../xo-remotes/xo-restore-runner.js'

/** What the XO remote routes are given. */
export interface XoRemoteRouteServices {
  readonly xoRemotes: XoRemoteService
  readonly xoDownloads: XoDownloads
  readonly xoImports: XoImportRunner
  readonly xoRestores: XoRestoreRunner
  readonly log: ServerLog
}

type Id = { Params: { id: string } }
const tags = ['xo-remotes']
const BROWSE_TIMEOUT_MS = 300_000

export function xoRemoteRoutes(app: FastifyInstance, ctx: XoRemoteRouteServices): void {
  const { xoRemotes: service } = ctx
  app.get('/api/xo-remotes', { schema: { tags } }, async (): Promise<XoRemote[]> => service.store.list())

  app.post<{ Body: XoRemoteInput }>(
    '/api/xo-remotes',
    { schema: { tags, body: XoRemoteInput } },
    async (request, reply) => {
      const record = await service.add(request.body, AbortSignal.timeout(60_000))
      ctx.log.info(`XO remote '${record.name}' added by ${request.user?.username}`)
      return reply.status(201).send(record)
    },
  )

  app.delete<Id>('/api/xo-remotes/:id', { schema: { tags, params: IdParams } }, async (request, reply) => {
    const record = await service.store.get(request.params.id)
    const running = ctx.xoImports.running(record.id)
    if (running !== undefined)
      throw conflict(
        `an import of '${record.name}' is running (run ${running}): cancel it first`,
        'IMPORT_RUNNING',
      )
    await service.store.delete(record.id)
    ctx.log.info(`XO remote '${record.name}' removed by ${request.user?.username} (its files untouched)`)
    return reply.status(204).send()
  })

  app.get<Id>(
    '/api/xo-remotes/:id/vms',
    { schema: { tags, params: IdParams } },
    async (request, reply): Promise<XoVm[]> => {
      const listing = await service.listing(request.params.id, browseSignal(reply))
      return listing.vms.map((vm) => ({ ...vm, notes: [...vm.notes] }))
    },
  )

  app.get<Id & { Querystring: XoPointsQuery }>(
    '/api/xo-remotes/:id/points',
    { schema: { tags, params: IdParams, querystring: XoPointsQuery } },
    async (request, reply): Promise<XoPoint[]> => {
      const listing = await service.listing(request.params.id, browseSignal(reply))
      const vm = request.query.vm
      const notes = new Map(listing.vms.map((v) => [v.uuid, v.notes]))
      return listing.points
        .filter((p) => vm === undefined || p.vm === vm || p.vmName === vm)
        .map((p) => pointView(p, [...listing.notes, ...(notes.get(p.vm) ?? [])]))
    },
  )

  app.get<{ Params: XoDiskParams }>(
    '/api/xo-remotes/:id/points/:vm/:date/disks/:file',
    { config: { role: 'operator' }, schema: { tags, params: XoDiskParams } },
    async (request, reply) => {
      const { id, vm, date, file } = request.params
      const [disk, format] = file.split('.') as [string, 'raw' | 'vhd']
      await ctx.xoDownloads.send(reply, {
        remoteId: id,
        pointId: `${vm}/${date}`,
        disk: Number(disk),
        format,
      })
    },
  )

  app.post<Id & { Body: XoRestoreInput }>(
    '/api/xo-remotes/:id/restores',
    { config: { role: 'operator' }, schema: { tags, params: IdParams, body: XoRestoreInput } },
    async (request, reply) => {
      const runId = await ctx.xoRestores.start({ remoteId: request.params.id, ...request.body })
      ctx.log.info(
        `restore ${runId} of XO point ${request.body.pointId} started by ${request.user?.username}`,
      )
      return reply.status(202).send({ runId })
    },
  )

  app.post<Id & { Body: XoImportInput }>(
    '/api/xo-remotes/:id/import',
    { schema: { tags, params: IdParams, body: XoImportInput } },
    async (request, reply) => {
      const runId = await ctx.xoImports.start({ remoteId: request.params.id, ...request.body })
      ctx.log.info(`import ${runId} of XO remote ${request.params.id} started by ${request.user?.username}`)
      return reply.status(202).send({ runId })
    },
  )

  app.delete<Id>('/api/xo-remotes/:id/import', { schema: { tags, params: IdParams } }, async (request) => {
    const runId = await ctx.xoImports.cancel(request.params.id, request.user?.username ?? 'an admin')
    ctx.log.info(`import ${runId} cancelled by ${request.user?.username}`)
    return { runId }
  })
}

/** A listing reads every metadata file of the remote: it stops when the client goes away. */
const browseSignal = (reply: FastifyReply): AbortSignal =>
  AbortSignal.any([untilClientGone(reply), AbortSignal.timeout(BROWSE_TIMEOUT_MS)])

function pointView(p: XoPointSummary, notes: readonly string[]): XoPoint {
  return {
    id: p.id,
    vm: p.vm,
    vmName: p.vmName,
    timestamp: p.timestamp,
    mode: p.mode,
    jobId: p.jobId,
    ...(p.size === undefined ? {} : { size: p.size }),
    disks: p.disks.map(({ index, name, vdi, size, chainLength }) => ({
      index,
      name,
      vdi,
      size,
      chainLength,
    })),
    usable: p.usable,
    ...(p.reason === undefined ? {} : { reason: p.reason }),
    ...(p.code === undefined ? {} : { code: p.code }),
    notes: [...notes, ...p.notes],
  }
}
