// Repository errors: stable codes for what can go wrong with repository objects (not the store's faults,
// which stay StorageErrors). Messages name the object and the repository.
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

export type RepositoryErrorCode =
  | 'NOT_A_REPOSITORY'
  | 'REPOSITORY_EXISTS'
  | 'UNSUPPORTED_VERSION'
  | 'CORRUPT_OBJECT'
  | 'CHUNK_MISSING'
  | 'WRONG_PASSPHRASE'
  | 'PASSPHRASE_REQUIRED'
  | 'INVALID_ARGUMENT'
  | 'POINT_NOT_FOUND'
  /** A delete of a protected restore point (unprotect it first). */
  | 'POINT_PROTECTED'
  | 'BASE_MISMATCH'
  | 'SESSION_EXPIRED'
  | 'GC_UNSAFE'
  /** The config no longer matches its seal or what a server or job recorded: never used so. */
  | 'REPOSITORY_CONFIG_CHANGED'
  /** A passphrase was given for a repository whose config says it is not encrypted. */
  | 'REPOSITORY_NOT_ENCRYPTED'
  /** A key slot asks scrypt for more memory or work than Strata allows. */
  | 'KDF_OUT_OF_BOUNDS'
  /** A new passphrase shorter than MIN_PASSPHRASE_LENGTH, without `force`. */
  | 'WEAK_PASSPHRASE'
  /** An immutable repository on a store without Object Lock (or a bucket where it is not enabled). */
  | 'OBJECT_LOCK_REQUIRED'
  /** A restore point whose retention date (Object Lock) has not come yet: it cannot be forgotten. */
  | 'POINT_LOCKED'
  /** A restore point of files (a metadata backup) has no file of that name. */
  | 'POINT_FILE_NOT_FOUND'
  /** Files were asked of a point that holds a VM's disks. */
  | 'NOT_A_FILE_POINT'

export class RepositoryError extends StrataError {
  declare readonly code: RepositoryErrorCode
  constructor(code: RepositoryErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}

/**
 * A backup that failed with this loses nothing it stored and can run again at once, reusing it (a
 * resume): its session lapsed (SESSION_EXPIRED), or a GC took a chunk it had created (CHUNK_MISSING).
 */
export function isResumable(error: unknown): boolean {
  return (
    error instanceof RepositoryError &&
    error.retryable &&
    (error.code === 'SESSION_EXPIRED' || error.code === 'CHUNK_MISSING')
  )
}

/** A short form of a hex id for messages: "3fa2c81d…". */
export function shortId(hex: string): string {
  return `${hex.slice(0, 8)}…`
}
