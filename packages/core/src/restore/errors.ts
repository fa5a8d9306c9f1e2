// File-level restore errors: stable codes for what the user asked (a path, a filesystem) and for the
// appliance that reads the disk (it failed to start, a call took too long, the session is over).
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

export type FileRestoreErrorCode =
  /** The disk holds no filesystem libguestfs recognises. */
  | 'NO_FILESYSTEM'
  /** --fs names no filesystem of the disk. */
  | 'FILESYSTEM_NOT_FOUND'
  /** Several filesystems and no --fs. */
  | 'FILESYSTEM_AMBIGUOUS'
  /** The filesystem cannot be mounted or read (damaged, unsupported). */
  | 'FILESYSTEM_UNREADABLE'
  | 'PATH_NOT_FOUND'
  /** A path that is not absolute, holds '..' or NUL, or is too long. */
  | 'INVALID_PATH'
  /** A path goes through a symbolic link: links are shown and copied as links, never followed. */
  | 'SYMLINK_NOT_FOLLOWED'
  | 'DIRECTORY_TOO_LARGE'
  /** The output exists (a non-empty directory, a file). */
  | 'OUTPUT_EXISTS'
  | 'INVALID_ARGUMENT'
  /** The appliance did not start. */
  | 'APPLIANCE_FAILED'
  /** A call to the appliance took longer than its timeout: the appliance was stopped. */
  | 'APPLIANCE_TIMEOUT'
  /** A call failed in the appliance (an I/O error reading the filesystem, say). */
  | 'GUESTFS_ERROR'
  | 'SESSION_CLOSED'

export class FileRestoreError extends StrataError {
  declare readonly code: FileRestoreErrorCode
  constructor(code: FileRestoreErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}
