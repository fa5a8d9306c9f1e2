// Why a mirror refuses to start or to copy a point: typed, with the repositories named.
import { StrataError } from '../../shared/index.js'

export type MirrorErrorCode =
  | 'MIRROR_SAME_REPOSITORY'
  | 'CHUNK_SIZE_MISMATCH'
  | 'INVALID_ARGUMENT'
  /** A mirror job's run: some of its targets failed (each named). */
  | 'MIRROR_FAILED'

export class MirrorError extends StrataError {
  declare readonly code: MirrorErrorCode
  constructor(code: MirrorErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options)
  }
}
