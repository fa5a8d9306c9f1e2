// Errors of the disk seam: a source that cannot give what was asked, a path that does not apply.
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

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
