// A GC sweep's announcement, and its chunk deletes, bounded in time so that none can land where a
// writer believes no sweep is running (docs/repository-format.md, "Concurrency"):
//  - none starts later than the check window before the announcement's deadline: the clock is read in
//    the delete slot and, through the store's `notAfter`, before every retry (timers cannot promise it:
//    a paused process runs its late timers in any order);
//  - each has a hard timeout of half the delete timeout (writers count an announcement in force until
//    its deadline plus the whole of it: the other half absorbs clocks that disagree by up to that);
//  - the announcement is withdrawn no sooner than the check window after the last delete settled.
import { Semaphore, sleep } from '../shared/index.js'
import { StorageError, type ObjectStore } from '../storage/index.js'
import type { Repository } from './repository.js'
import { instant, since, type Instant, type SessionTiming } from './session.js'
import { encodeGcSweep, gcSweepKey } from './format/session.js'

/** Deletes in flight at once. */
const DELETES_IN_FLIGHT = 8

export class SweepDeletes {
  readonly #limit = new Semaphore(DELETES_IN_FLIGHT)
  #running: Promise<void>[] = []
  #lastSettled: Instant | undefined
  deleted = 0
  bytes = 0
  /** Unreferenced chunks the store refused to delete yet: their Object Lock retention runs. */
  locked = 0
  /** A delete was refused for lateness: the sweep stopped at its deadline. */
  stopped = false

  constructor(
    readonly repo: Repository,
    readonly timing: Required<SessionTiming>,
    readonly signal?: AbortSignal,
    /** The store deleted from: the repository's, or its cold tier's (gc-cold.ts). */
    readonly store: ObjectStore = repo.store,
  ) {}

  get hardTimeoutMs(): number {
    return this.timing.deleteTimeoutMs / 2
  }

  /** Whether a delete may still start under an announcement with this deadline. */
  mayStart(deadline: number): boolean {
    return Date.now() < deadline - this.timing.checkWindowMs
  }

  /** Starts deleting `key` (of `size` bytes) unless it is too late; false: too late, stop sweeping. */
  async start(key: string, size: number, deadline: number): Promise<boolean> {
    if (!this.mayStart(deadline)) return !(this.stopped = true)
    await this.#limit.acquire(this.signal)
    // The wait for a slot may have been long: the clock again.
    if (!this.mayStart(deadline)) {
      this.#limit.release()
      return !(this.stopped = true)
    }
    const notAfter = deadline - this.timing.checkWindowMs
    this.#running.push(this.#delete(key, size, notAfter).finally(() => this.#limit.release()))
    return true
  }

  async #delete(key: string, size: number, notAfter: number): Promise<void> {
    // The GC's signal or the hard timeout, whichever first; the listener goes when the delete settles.
    const stop = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => ((timedOut = true), stop.abort()), this.hardTimeoutMs)
    const onAbort = (): void => stop.abort(this.signal?.reason)
    this.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.store.delete(key, { signal: stop.signal, notAfter })
      this.deleted++
      this.bytes += size
    } catch (error) {
      if (error instanceof StorageError && error.code === 'DEADLINE_PASSED') {
        this.stopped = true
        return
      }
      // Still retained (Object Lock): an expected answer; the next GC after its date frees it.
      if (error instanceof StorageError && error.code === 'OBJECT_LOCKED') {
        this.locked++
        return
      }
      if (!timedOut) throw error
      throw new StorageError(
        'TRANSIENT',
        `GC could not delete '${key}' from ${this.store.name} within ${this.hardTimeoutMs} ms`,
        { cause: error },
      )
    } finally {
      clearTimeout(timer)
      this.signal?.removeEventListener('abort', onAbort)
      this.#lastSettled = instant()
    }
  }

  /** Waits for every delete started; then throws the first failure, if any. */
  async drain(): Promise<void> {
    const running = this.#running
    this.#running = []
    const failed = (await Promise.allSettled(running)).find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /** Waits until the announcement may go: every delete settled, the check window past the last one. */
  async linger(): Promise<void> {
    await this.drain().catch(() => undefined)
    if (this.#lastSettled === undefined) return
    await sleep(Math.max(0, this.timing.checkWindowMs - since(this.#lastSettled)))
  }
}

/**
 * The sweep announcement (gc/<run>-<n>/sweep). It is withdrawn and published again every batch, so that a
 * writer waiting for sweeps waits for one batch, not for the whole sweep.
 */
export class Announcement {
  #key: string | undefined
  #count = 0
  deadline = Infinity

  constructor(
    readonly repo: Repository,
    readonly run: string,
    readonly started: string,
    readonly options: { dryRun?: boolean; sweepDeadlineMs?: number; signal?: AbortSignal },
  ) {}

  /** Publishes a new announcement, then withdraws the previous one. */
  async publish(): Promise<void> {
    if (this.options.dryRun) return
    const previous = this.#key
    this.deadline = Date.now() + (this.options.sweepDeadlineMs ?? 30 * 60_000)
    const key = gcSweepKey(`${this.run}-${++this.#count}`)
    await this.repo.putNew(
      key,
      encodeGcSweep({ started: this.started, deadline: new Date(this.deadline).toISOString() }),
      this.options.signal,
    )
    this.#key = key
    if (previous !== undefined) await this.repo.store.delete(previous)
  }

  async withdraw(): Promise<void> {
    if (this.#key === undefined) return
    await this.repo.store.delete(this.#key)
    this.#key = undefined
  }
}
