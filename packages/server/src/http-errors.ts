// One error shape for every 4xx/5xx: {error: {code, message, details?}}. Schema failures become 400
// INVALID_REQUEST naming the field; engine errors keep their code with the status that fits it; anything
// unexpected is a 500 whose details stay in the server log.
import type { FastifyError, FastifyInstance } from 'fastify'
import { StrataError } from '@strata/core'
import { ApiError, RetryLaterError } from './errors.js'

const STATUS_BY_CODE: Record<string, number> = {
  INVALID_JOB: 400,
  INVALID_LOCATION: 400,
  INVALID_ARGUMENT: 400,
  INVALID_RUN_ID: 400,
  NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  POINT_NOT_FOUND: 404,
  NO_SCHEDULE: 404,
  JOB_RUNNING: 409,
  POINT_PROTECTED: 409,
  POINT_LOCKED: 409,
  REPOSITORY_EXISTS: 409,
  NOT_A_REPOSITORY: 502,
  WRONG_PASSPHRASE: 400,
  REPLICA_NOT_FOUND: 404,
  REPLICA_AMBIGUOUS: 409,
  // File-level restore: what the user asked for is not there, or cannot be read as asked.
  PATH_NOT_FOUND: 404,
  FILESYSTEM_NOT_FOUND: 404,
  FILESYSTEM_AMBIGUOUS: 400,
  SYMLINK_NOT_FOLLOWED: 400,
  NO_FILESYSTEM: 422,
  FILESYSTEM_UNREADABLE: 422,
  DIRECTORY_TOO_LARGE: 413,
  DISK_NOT_FOUND: 404,
  TOO_MANY_FILE_SESSIONS: 503,
  TOO_MANY_DOWNLOADS: 503,
}

/** The HTTP status an error code answers with, when the code has one of its own. */
export function statusOfCode(code: string): number | undefined {
  return STATUS_BY_CODE[code]
}

export function installErrorHandler(app: FastifyInstance, log: (message: string) => void): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation !== undefined) {
      const details = error.validation.map((v) => ({
        field: `${error.validationContext ?? 'body'}${v.instancePath}`,
        message: v.message ?? 'is invalid',
        params: v.params,
      }))
      const first = details[0]!
      const extra = (first.params as { additionalProperty?: string }).additionalProperty
      const message = `${first.field} ${first.message}${extra === undefined ? '' : `: '${extra}'`}`
      return reply.status(400).send({ error: { code: 'INVALID_REQUEST', message, details } })
    }
    if (error instanceof RetryLaterError) reply.header('retry-after', String(error.retryAfterSeconds))
    if (error instanceof ApiError) {
      return reply.status(error.status).send({ error: body(error) })
    }
    if (error instanceof StrataError) {
      const status = STATUS_BY_CODE[error.code] ?? (error.code.startsWith('INVALID') ? 400 : 502)
      return reply.status(status).send({ error: body(error) })
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      // Fastify's own refusals (malformed JSON, wrong content type, body too large).
      return reply
        .status(error.statusCode)
        .send({ error: { code: 'INVALID_REQUEST', message: error.message } })
    }
    log(`internal error on ${request.method} ${request.url}: ${error.stack ?? error.message}`)
    return reply
      .status(500)
      .send({ error: { code: 'INTERNAL', message: 'internal error (see the server log)' } })
  })
}

function body(error: StrataError): { code: string; message: string; details?: Record<string, unknown> } {
  return Object.keys(error.details).length === 0
    ? { code: error.code, message: error.message }
    : { code: error.code, message: error.message, details: error.details }
}
