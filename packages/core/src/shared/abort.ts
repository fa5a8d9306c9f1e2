// Helpers so that every async operation can honour an AbortSignal without boilerplate.
import { setMaxListeners } from 'node:events'
import { AbortedError } from './errors.js'

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(signal.reason)
}

/** Resolves after `ms`, or rejects with AbortedError as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason))
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AbortedError(signal?.reason))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Races a promise against a signal. The promise keeps running; the caller must clean up on abort. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason))
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/**
 * A signal that fires when any of the given signals fires (undefined entries are ignored).
 * Not AbortSignal.any: on Node 20 a signal it combines can be garbage-collected and then never fires
 * (seen with AbortSignal.timeout). Listeners on the sources keep everything reachable.
 */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const controller = new AbortController()
  const present = signals.filter((s): s is AbortSignal => s !== undefined)
  const already = present.find((s) => s.aborted)
  if (already !== undefined) {
    controller.abort(already.reason)
    return controller.signal
  }
  const onAbort = (event: Event): void => {
    for (const s of present) s.removeEventListener('abort', onAbort)
    controller.abort((event.target as AbortSignal).reason)
  }
  for (const s of present) s.addEventListener('abort', onAbort, { once: true })
  return controller.signal
}

/**
 * Marks a signal that many concurrent operations listen to (the chunk writes of a backup, the waiters
 * on a limit): past 10 listeners Node warns of a leak, which here is only concurrency. Each operation
 * still removes its listener when it settles.
 */
export function allowManyListeners(signal: AbortSignal): AbortSignal {
  setMaxListeners(0, signal)
  return signal
}
