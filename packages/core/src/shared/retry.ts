// Retry with exponential backoff and full jitter; the one retry loop of the code base.
import { sleep, throwIfAborted } from './abort.js'
import { isRetryable } from './errors.js'

export interface RetryOptions {
  /** Attempts after the first one. */
  retries: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** Defaults to the error's own retry classification. */
  shouldRetry?: (error: unknown, attempt: number) => boolean
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void
  signal?: AbortSignal
  /** Injected for tests; defaults to Math.random. */
  random?: () => number
}

export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  return Math.floor(random() * Math.min(max, base * 2 ** attempt))
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { retries, baseDelayMs = 100, maxDelayMs = 10_000, shouldRetry = isRetryable, signal } = options
  const random = options.random ?? Math.random
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal)
    try {
      return await fn(attempt)
    } catch (error) {
      if (attempt >= retries || signal?.aborted || !shouldRetry(error, attempt)) throw error
      const delay = backoffDelay(attempt, baseDelayMs, maxDelayMs, random)
      options.onRetry?.(error, attempt + 1, delay)
      await sleep(delay, signal)
    }
  }
}
