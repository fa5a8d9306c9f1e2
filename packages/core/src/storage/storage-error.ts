import { StrataError, type StrataErrorOptions } from '../shared/index.js'

/**
 * Stable codes of store failures. NOT_FOUND and ALREADY_EXISTS are answers, not faults; TRANSIENT
 * (timeouts, resets, 5xx, throttling) is retryable; the rest are permanent.
 */
export type StorageErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'ACCESS_DENIED'
  | 'INVALID_KEY'
  | 'TRANSIENT'
  | 'CORRUPT_RESPONSE'
  | 'STORE_FAILED'
  /** A store location (path or URL) or its credentials cannot be used as given. */
  | 'INVALID_LOCATION'
  /** A local store met a symbolic link inside the repository, where only files and directories belong. */
  | 'SYMLINK_REFUSED'
  /** The call's `notAfter` instant passed before an attempt could start: nothing was sent. */
  | 'DEADLINE_PASSED'
  /** Object Lock retention forbids deleting the object yet (an expected answer where retention is set). */
  | 'OBJECT_LOCKED'

export class StorageError extends StrataError {
  declare readonly code: StorageErrorCode

  constructor(code: StorageErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, { retryable: code === 'TRANSIENT', ...options })
  }
}

/** Throws DEADLINE_PASSED if the call's `notAfter` instant has come: call right before each attempt. */
export function checkNotAfter(op: string, key: string, options: { notAfter?: number }): void {
  if (options.notAfter === undefined || Date.now() < options.notAfter) return
  const at = new Date(options.notAfter).toISOString()
  throw new StorageError('DEADLINE_PASSED', `${op} of '${key}' not started: its deadline ${at} has passed`, {
    details: { permanent: true },
  })
}

export function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.code === 'NOT_FOUND'
}

/** Rejects keys that could escape a directory or confuse S3: empty segments, '.', '..', backslashes. */
export function assertValidKey(key: string): void {
  const bad =
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key.split('/').some((part) => part === '' || part === '.' || part === '..')
  if (bad) throw new StorageError('INVALID_KEY', `invalid object key '${key}'`)
}
