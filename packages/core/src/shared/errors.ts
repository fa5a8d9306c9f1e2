// Strata's error base. Every error that leaves a module is a StrataError (or a subclass) with a stable
// `code` that callers, logs and the API can match on, a `retryable` classification that the retry
// wrappers read, and the original `cause`. Messages name the object concerned.

export interface StrataErrorOptions {
  cause?: unknown
  /** Whether repeating the same operation may succeed (transient network or server trouble). */
  retryable?: boolean
  /** Structured facts for logs and the API (offsets, ids, sizes). Never secrets. */
  details?: Record<string, unknown>
}

export class StrataError extends Error {
  readonly code: string
  readonly retryable: boolean
  readonly details: Record<string, unknown>

  constructor(code: string, message: string, options: StrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retryable = options.retryable ?? false
    this.details = options.details ?? {}
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...this.details,
    }
  }
}

/** Raised when an AbortSignal fires; carries the signal's reason as its cause. */
export class AbortedError extends StrataError {
  constructor(reason?: unknown) {
    super('ABORTED', reason instanceof Error ? `aborted: ${reason.message}` : 'aborted', { cause: reason })
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof StrataError && error.retryable
}

/** The code of any error: a StrataError's code, a Node system error's code, or 'UNKNOWN'. */
export function errorCode(error: unknown): string {
  if (error instanceof StrataError) return error.code
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'UNKNOWN'
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
