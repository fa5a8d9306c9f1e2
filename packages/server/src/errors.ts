// Errors the API answers with: a StrataError with a stable code and the HTTP status that goes with it.
// Everything else that reaches the error handler is mapped by code (see http-errors.ts).
import { StrataError } from '@strata/core'

export class ApiError extends StrataError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details?: Record<string, unknown>,
    cause?: unknown,
  ) {
    super(code, message, { ...(details === undefined ? {} : { details }), cause })
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, 'NOT_FOUND', `${what} does not exist`)
export const forbidden = (message = 'your role does not allow this'): ApiError =>
  new ApiError(403, 'FORBIDDEN', message)
export const conflict = (message: string, code = 'CONFLICT'): ApiError => new ApiError(409, code, message)
export const invalid = (message: string, field?: string): ApiError =>
  new ApiError(400, 'INVALID_REQUEST', message, field === undefined ? undefined : { field })

/** A refusal that names when to try again (the Retry-After header): rate limits, a full queue. */
export class RetryLaterError extends ApiError {
  constructor(
    status: 429 | 503,
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
    cause?: unknown,
  ) {
    super(status, code, message, { retryAfter: retryAfterSeconds }, cause)
  }
}
