// Errors of the XO remote reader. Each names the remote object concerned; none carries a key.
import { StrataError, type StrataErrorOptions } from '../shared/index.js'

export type XoErrorCode =
  /** Something tried to write to, or delete from, an XO remote: Strata only reads them. */
  | 'XO_READ_ONLY'
  /** The remote is encrypted and no key was given (STRATA_XO_KEY or STRATA_XO_KEY_FILE). */
  | 'XO_KEY_REQUIRED'
  /** The key given is not a 32-byte key (XO keys are 32 characters). */
  | 'XO_KEY_INVALID'
  /** The key does not decrypt the remote's metadata.json: it is another remote's key. */
  | 'XO_KEY_WRONG'
  /** encryption.json names an algorithm this reader does not know. */
  | 'XO_ENCRYPTION_UNSUPPORTED'
  /** An encrypted file failed its authentication: altered, truncated, or written with another key. */
  | 'XO_AUTH_FAILED'
  /** A file the format requires is absent. */
  | 'XO_NOT_FOUND'
  /** The file system failed a read (retryable when the errno is transient). */
  | 'XO_READ_FAILED'
  /** A file exceeds the bound set for its kind (metadata, alias, chunk). */
  | 'XO_TOO_LARGE'
  /** A backup's metadata JSON does not parse or lacks a field the format requires. */
  | 'XO_METADATA_INVALID'
  /** An alias is empty, too long, points to another alias or outside the remote. */
  | 'XO_ALIAS_INVALID'
  /** A path in the remote (a parent name, an XVA name) leaves the remote or is malformed. */
  | 'XO_PATH_INVALID'
  /** A delta's parent is missing, or the chain loops or exceeds the bound. */
  | 'XO_CHAIN_BROKEN'
  /** A VhdDirectory chunk is malformed: bad BAT, unknown filter, wrong block length. */
  | 'XO_VHD_DIRECTORY_INVALID'
  /** An XVA is malformed: bad tar, missing ova.xml, unexpected entry, truncated. */
  | 'XO_XVA_INVALID'
  /** An XVA chunk or the whole file does not match its checksum. */
  | 'XO_CHECKSUM_MISMATCH'
  /** Something the reader does not handle (e.g. a VHD file on an encrypted remote). */
  | 'XO_UNSUPPORTED'
  /** No restore point, or no disk, of that id in the remote. */
  | 'XO_BACKUP_NOT_FOUND'
  | 'XO_DISK_NOT_FOUND'
  /** The restore point cannot be restored; `details.reason` says why. */
  | 'XO_POINT_UNUSABLE'
  /** The restore target exists and --force was not given. */
  | 'XO_TARGET_EXISTS'
  /** A VM restore could not complete on the pool (no VM imported, no network for a VIF). */
  | 'XO_RESTORE_FAILED'

export class XoError extends StrataError {
  declare readonly code: XoErrorCode

  constructor(code: XoErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}
