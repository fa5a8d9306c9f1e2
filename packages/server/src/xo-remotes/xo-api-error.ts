// How the API answers an XO reader's error: its code and message kept, with the status that fits it.
import { XoError } from '@strata/core/xo'
import { ApiError } from '../errors.js'

/** The HTTP status of an XO reader's error; its code and message are kept. */
const STATUS: Partial<Record<string, number>> = {
  XO_KEY_REQUIRED: 400,
  XO_KEY_INVALID: 400,
  XO_KEY_WRONG: 400,
  XO_ENCRYPTION_UNSUPPORTED: 400,
  XO_BACKUP_NOT_FOUND: 404,
  XO_DISK_NOT_FOUND: 404,
  XO_POINT_UNUSABLE: 422,
  XO_UNSUPPORTED: 422,
}

/** An XO reader's error as the API answers it; `opening`: the remote itself could not be opened. */
export function xoApiError(error: unknown, opening = false): unknown {
  if (!(error instanceof XoError)) return error
  // The reader's own wording names the CLI's variables: through the API, the key is a field.
  if (error.code === 'XO_KEY_REQUIRED')
    return new ApiError(
      400,
      error.code,
      error.message.replace(/: give its key .*$/, ": give its key ('key')"),
      undefined,
      error,
    )
  const status = STATUS[error.code] ?? (opening && error.code === 'XO_NOT_FOUND' ? 400 : 502)
  return new ApiError(status, error.code, error.message, undefined, error)
}
