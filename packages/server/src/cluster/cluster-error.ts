// The cluster's refusals and failures: typed, with a stable code and whether trying again may help.
import { StrataError } from '@strata/core'

export type ClusterErrorCode =
  /** The coordination database cannot be reached or answered with an error. */
  | 'CLUSTER_UNAVAILABLE'
  /** Another instance runs the job now (its lease is live). */
  | 'JOB_RUNNING_ELSEWHERE'
  /** An event from another instance that is not one (malformed, too large): dropped. */
  | 'CLUSTER_BAD_EVENT'
  /** The coordinator was used before start() or after stop(). */
  | 'CLUSTER_STOPPED'

export class ClusterError extends StrataError {
  constructor(
    code: ClusterErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(code, message, {
      cause: options.cause,
      retryable: options.retryable ?? (code === 'CLUSTER_UNAVAILABLE' || code === 'JOB_RUNNING_ELSEWHERE'),
    })
  }
}
