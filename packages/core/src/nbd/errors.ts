// NBD errors. One class, stable codes; `retryable` says whether a new connection may succeed.
import { StrataError, type StrataErrorOptions } from '../shared/errors.js'

export type NbdErrorCode =
  /** The server said something the protocol does not allow (bad magic, malformed option reply...). */
  | 'NBD_PROTOCOL'
  | 'NBD_BAD_MAGIC'
  | 'NBD_UNKNOWN_HANDLE'
  /** A reply announces more data than was asked for or than the limits allow. */
  | 'NBD_OVERSIZED_REPLY'
  /** A READ's reply sent some bytes more than once (structured chunks overlap). */
  | 'NBD_OVERLAPPING_REPLY'
  /** A READ's reply ended without covering every requested byte. */
  | 'NBD_INCOMPLETE_REPLY'
  /** The connection ended in the middle of a message. */
  | 'NBD_SHORT_REPLY'
  | 'NBD_CONNECTION_CLOSED'
  | 'NBD_CONNECT_FAILED'
  | 'NBD_TIMEOUT'
  /** The server answered a command with an error number (EIO, EINVAL...). */
  | 'NBD_SERVER_ERROR'
  /** The server refused an option we cannot do without (export unknown, TLS required...). */
  | 'NBD_OPTION_REFUSED'
  | 'NBD_TLS'
  | 'NBD_UNSUPPORTED'
  | 'NBD_INVALID_ARGUMENT'

export class NbdError extends StrataError {
  declare readonly code: NbdErrorCode

  constructor(code: NbdErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}

export const protocolError = (message: string, details?: Record<string, unknown>): NbdError =>
  new NbdError('NBD_PROTOCOL', message, { details })
