// Errors of the disk seam: a source that cannot give what was asked, a path that does not apply.
import { RepositoryError } from '../repository/index.js'
import { AbortedError, StrataError, type StrataErrorOptions } from '../shared/index.js'
import { StorageError } from '../storage/index.js'

export type DiskErrorCode =
  /** The changed-block path asked for cannot run (no CBT, no base data, chunk size mismatch, ...). */
  | 'DISK_PATH_UNAVAILABLE'
  /** A source delivered something other than what it announced. */
  | 'DISK_SOURCE_INVALID'

export class DiskError extends StrataError {
  declare readonly code: DiskErrorCode

  constructor(code: DiskErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}

/**
 * Whether a failure of a source may be answered by reading another way: not an abort, and not the
 * repository or the store failing (reading the disk another way would not help them).
 */
export function canFallBack(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted || error instanceof AbortedError) return false
  return !(error instanceof RepositoryError || error instanceof StorageError)
}
