// Maps AWS SDK failures to StorageError codes. Providers disagree on codes, so the HTTP status is the
// fallback, and anything that looks like the network (resets, timeouts) is TRANSIENT.
import { AbortedError, StrataError } from '../shared/index.js'
import { StorageError, type StorageErrorCode } from './storage-error.js'

const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'AccountProblem',
  'AllAccessDisabled',
  'RequestTimeTooSkewed',
])
/** Not retried even by the write path, which otherwise retries everything (see retrying-store.ts). */
const PERMANENT = new Set([
  'NoSuchBucket',
  'InvalidBucketName',
  'MethodNotAllowed',
  'NotImplemented',
  'InvalidArgument',
  'EntityTooLarge',
  'InvalidRange',
])
const TRANSIENT = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TimeoutError',
  'ConditionalRequestConflict',
  'OperationAborted',
])
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
])

interface SdkError {
  name?: string
  code?: string
  message?: string
  Code?: string
  $metadata?: { httpStatusCode?: number }
  $response?: { statusCode?: number }
}

export function s3Error(error: unknown, what: string, signal?: AbortSignal): StrataError {
  if (error instanceof StrataError) return error
  if (signal?.aborted) return new AbortedError(signal.reason)
  const e = (error ?? {}) as SdkError
  const s3Code = e.Code ?? e.name ?? 'Unknown'
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode
  const errno = e.code
  const code = classify(s3Code, status, errno, e.message ?? '')
  const details = { s3Code, status, errno, permanent: PERMANENT.has(s3Code) || status === 501 }
  const suffix = status === undefined ? (errno ?? s3Code) : `${status} ${s3Code}`
  return new StorageError(code, `${what}: ${suffix}`, { cause: error, details })
}

function classify(s3Code: string, status: number | undefined, errno: string | undefined, msg: string) {
  let code: StorageErrorCode = 'STORE_FAILED'
  if (s3Code === 'NoSuchKey' || s3Code === 'NotFound') code = 'NOT_FOUND'
  else if (s3Code === 'NoSuchBucket' || PERMANENT.has(s3Code)) code = 'STORE_FAILED'
  else if (s3Code === 'PreconditionFailed' || status === 412) code = 'ALREADY_EXISTS'
  else if (DENIED.has(s3Code) || status === 403 || status === 401) code = 'ACCESS_DENIED'
  else if (TRANSIENT.has(s3Code) || (errno !== undefined && NETWORK.has(errno))) code = 'TRANSIENT'
  else if (status === 404) code = 'NOT_FOUND'
  else if (status === 501) code = 'STORE_FAILED'
  else if (status !== undefined && (status >= 500 || status === 429 || status === 408)) code = 'TRANSIENT'
  else if (/socket hang up|aborted|premature|ECONNRESET|timed? ?out/i.test(msg)) code = 'TRANSIENT'
  else if (/Deserialization error|char|XML|parse/i.test(msg) && status !== undefined && status < 300) {
    code = 'CORRUPT_RESPONSE'
  }
  return code
}
