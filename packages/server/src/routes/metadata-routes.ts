// The files of a metadata job's points (docs/metadata-backups.md): a pool's database dump, handed back to
// the admin to apply with `xe pool-restore-database`, and the server's configuration, for
// `strata server restore-config`. Read whole (a few MiB) and checked against the manifest's checksum.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { readFilePoint, readPointFile, resolvePoint, RepositoryError } from '@strata/core/repository'
import { ApiError } from '../errors.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'

export interface MetadataRouteServices {
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
}

const FileParams = Type.Object(
  {
    id: Type.String({ maxLength: 100 }),
    pointId: Type.String({ maxLength: 200 }),
    name: Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' }),
  },
  { additionalProperties: false },
)
const PointParams = Type.Object(
  { id: Type.String({ maxLength: 100 }), pointId: Type.String({ maxLength: 200 }) },
  { additionalProperties: false },
)

const STATUS: Record<string, number> = {
  POINT_NOT_FOUND: 404,
  POINT_FILE_NOT_FOUND: 404,
  NOT_A_FILE_POINT: 400,
  CORRUPT_OBJECT: 422,
}

function apiError(error: unknown): unknown {
  if (error instanceof RepositoryError && STATUS[error.code] !== undefined)
    return new ApiError(STATUS[error.code]!, error.code, error.message)
  return error
}

export function metadataRoutes(app: FastifyInstance, ctx: MetadataRouteServices): void {
  const schema = { tags: ['repositories'] }
  // A pool's database holds the pool's secrets, the configuration every user and job: admins only.
  const config = { role: 'admin' as const }
  app.get<{ Params: { id: string; pointId: string } }>(
    '/api/repositories/:id/points/:pointId/files',
    { schema: { ...schema, params: PointParams }, config },
    async (request) => {
      const signal = AbortSignal.timeout(60_000)
      const repo = await ctx.repositoryService.open(
        (await ctx.repositories.get(request.params.id)).id,
        signal,
      )
      try {
        const ref = await resolvePoint(repo, request.params.pointId, signal)
        const { metadata, files } = await readFilePoint(repo, ref, signal)
        return { point: request.params.pointId, metadata, files }
      } catch (error) {
        throw apiError(error)
      }
    },
  )

  app.get<{ Params: { id: string; pointId: string; name: string } }>(
    '/api/repositories/:id/points/:pointId/files/:name',
    { schema: { ...schema, params: FileParams }, config },
    async (request, reply) => {
      const signal = AbortSignal.timeout(120_000)
      const repo = await ctx.repositoryService.open(
        (await ctx.repositories.get(request.params.id)).id,
        signal,
      )
      try {
        const ref = await resolvePoint(repo, request.params.pointId, signal)
        const data = await readPointFile(repo, ref, request.params.name, signal)
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-disposition', `attachment; filename="${request.params.name}"`)
          .send(Buffer.from(data))
      } catch (error) {
        throw apiError(error)
      }
    },
  )
}
