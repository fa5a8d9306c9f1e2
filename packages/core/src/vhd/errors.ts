// Typed VHD errors. Every malformed input ends in a VhdError whose `code` says what is wrong, so that
// callers (import, backup, the fuzz test) can tell a corrupt file from a bug.
import { StrataError, type StrataErrorOptions } from '../shared/errors.js'

export const VhdErrorCode = {
  /** The stream or file ends before a structure it announces. */
  truncated: 'VHD_TRUNCATED',
  badCookie: 'VHD_BAD_COOKIE',
  badChecksum: 'VHD_BAD_CHECKSUM',
  /** A field holds a value the format does not allow (version, type, offsets, geometry of the layout). */
  invalid: 'VHD_INVALID',
  /** A size beyond the format's or our limits (disk > 2040 GiB, block size, BAT entries). */
  sizeLimit: 'VHD_SIZE_LIMIT',
  batOutOfRange: 'VHD_BAT_OUT_OF_RANGE',
  batOverlap: 'VHD_BAT_OVERLAP',
  /** In a stream, a block that lies behind what was already read (a stream cannot seek back). */
  blockOrder: 'VHD_BLOCK_ORDER',
  /** The trailing footer differs from the leading copy. */
  footerMismatch: 'VHD_FOOTER_MISMATCH',
  parentMismatch: 'VHD_PARENT_MISMATCH',
  parentNotFound: 'VHD_PARENT_NOT_FOUND',
  /** Valid VHD, but something we do not handle (e.g. a fixed disk given to the streaming reader). */
  unsupported: 'VHD_UNSUPPORTED',
  /**
   * A differencing block holds only some of its sectors (partial bitmap) where no parent is at hand to
   * supply the others (a delta stream read alone).
   */
  partialBlock: 'VHD_PARTIAL_BLOCK',
  /** The caller broke the writer's contract (blocks not matching the plan). */
  writerInput: 'VHD_WRITER_INPUT',
} as const
export type VhdErrorCodeValue = (typeof VhdErrorCode)[keyof typeof VhdErrorCode]

export class VhdError extends StrataError {
  declare readonly code: VhdErrorCodeValue

  constructor(code: VhdErrorCodeValue, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}
