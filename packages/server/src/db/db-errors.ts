// Typed errors of the database: what the operator can act on (unreachable, refused credentials, a
// missing database, a timeout) gets a stable code; a statement's own failure keeps PostgreSQL's message.
// The URL is named without its password.
import { StrataError } from '@strata/core'

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EAI_AGAIN',
])

/** The URL as logs and errors may show it: no password, no query string. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url)
    const user = u.username === '' ? '' : `${decodeURIComponent(u.username)}@`
    return `${u.protocol}//${user}${u.host}${u.pathname}`
  } catch {
    return 'the database (its URL does not parse)'
  }
}

export function databaseError(error: unknown, where: string): Error {
  if (error instanceof StrataError) return error
  const e = error as { code?: string; message?: string } | null
  const code = e?.code ?? ''
  const message = e?.message ?? String(error)
  if (UNREACHABLE.has(code) || /timeout exceeded when trying to connect|Connection terminated/i.test(message))
    return new StrataError('DATABASE_UNREACHABLE', `cannot reach ${where}: ${message}`, {
      cause: error,
      retryable: true,
    })
  if (code === '28P01' || code === '28000')
    return new StrataError('DATABASE_AUTH_FAILED', `${where} refused the credentials: ${message}`, {
      cause: error,
    })
  if (code === '3D000')
    return new StrataError('DATABASE_NOT_FOUND', `${where} does not exist: create it first`, { cause: error })
  if (code === '57014')
    return new StrataError('DATABASE_TIMEOUT', `a statement on ${where} took too long and was cancelled`, {
      cause: error,
      retryable: true,
    })
  if (code === '57P01' || code === '57P03' || code === '08006' || code === '08001')
    return new StrataError('DATABASE_UNREACHABLE', `${where} is not available: ${message}`, {
      cause: error,
      retryable: true,
    })
  return error instanceof Error ? error : new Error(message)
}
