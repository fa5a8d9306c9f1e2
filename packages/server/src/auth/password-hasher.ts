// Every scrypt of the server goes through here, at most `concurrency` at once: scrypt runs on libuv's
// thread pool (4 threads by default), which restores, downloads and file I/O share, so a flood of
// logins must not hold all of it. Callers beyond the queue, or waiting longer than `waitMs`, are
// refused at once (503 with Retry-After) instead of piling up.
import { randomBytes } from 'node:crypto'
import { Semaphore } from '@strata/core'
import { RetryLaterError } from '../errors.js'
import { hashPassword, verifyPassword } from './passwords.js'

export interface HasherOptions {
  /** Hashes computed at once (each holds a thread of the pool and 32 MiB for ~0.1 s). */
  readonly concurrency: number
  /** Callers allowed to wait for a slot. */
  readonly queue: number
  /** How long one may wait. */
  readonly waitMs: number
}

export const HASHER_DEFAULTS: HasherOptions = { concurrency: 2, queue: 16, waitMs: 10_000 }

export class PasswordHasher {
  readonly #slots: Semaphore
  #waiting = 0
  #running = 0
  /** Checked instead of a missing user's hash, at the same cost: timing tells no user names. */
  readonly #dummy: Promise<string>

  constructor(readonly options: HasherOptions = HASHER_DEFAULTS) {
    this.#slots = new Semaphore(options.concurrency)
    this.#dummy = hashPassword(randomBytes(16).toString('base64url'))
    this.#dummy.catch(() => {}) // awaited (and so reported) by the first check of an unknown user
  }

  hash(password: string, signal?: AbortSignal): Promise<string> {
    return this.#run(() => hashPassword(password), signal)
  }

  /** Whether `password` matches `stored`; with no stored hash, the same work and a false. */
  async verify(password: string, stored: string | undefined, signal?: AbortSignal): Promise<boolean> {
    const hash = stored ?? (await this.#dummy)
    const ok = await this.#run(() => verifyPassword(password, hash), signal)
    return ok && stored !== undefined
  }

  /** Hashes running and waiting. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting }
  }

  async #run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#waiting >= this.options.queue) throw busy()
    this.#waiting++
    const wait = AbortSignal.timeout(this.options.waitMs)
    try {
      await this.#slots.acquire(signal === undefined ? wait : AbortSignal.any([signal, wait]))
    } catch (error) {
      signal?.throwIfAborted()
      throw busy(error)
    } finally {
      this.#waiting--
    }
    this.#running++
    try {
      return await work()
    } finally {
      this.#running--
      this.#slots.release()
    }
  }
}

const busy = (cause?: unknown): RetryLaterError =>
  new RetryLaterError(503, 'LOGIN_BUSY', 'too many password checks at once; try again shortly', 1, cause)
