// How the API reports a repository that cannot be used: the repository's own code where it tells the
// admin something to act on (a configuration changed behind the server's back, a passphrase for a plain
// repository, a weak or wrong passphrase), else REPOSITORY_UNAVAILABLE with the cause's message.
import { RepositoryError } from '@strata/core/repository'
import { ApiError } from '../errors.js'

const STATUS: Record<string, number> = {
  REPOSITORY_CONFIG_CHANGED: 409,
  REPOSITORY_NOT_ENCRYPTED: 400,
  WEAK_PASSPHRASE: 400,
  WRONG_PASSPHRASE: 400,
  PASSPHRASE_REQUIRED: 400,
  KDF_OUT_OF_BOUNDS: 400,
}

const REMEDY: Record<string, string> = {
  REPOSITORY_CONFIG_CHANGED:
    ' If you replaced or re-created it yourself, save the repository again with acceptConfig: true.',
  WEAK_PASSPHRASE: ' Send force: true to keep it anyway.',
}

/** `what` names the repository ("repository 'nas1'", "no usable repository at '/srv'"). */
export function repositoryApiError(error: unknown, what: string, fallbackStatus: number): ApiError {
  const message = `${what}: ${(error as Error).message}`
  if (error instanceof RepositoryError && STATUS[error.code] !== undefined) {
    return new ApiError(STATUS[error.code]!, error.code, message + (REMEDY[error.code] ?? ''))
  }
  return new ApiError(fallbackStatus, 'REPOSITORY_UNAVAILABLE', message)
}
