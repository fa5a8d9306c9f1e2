// A backup session: announces a running backup to GC (base indexes, borrowed chunks) and keeps a lease
// alive with heartbeat objects. GC counts a session live while its newest object is younger than the
// lease; the session counts itself alive only while every gap between its objects stayed under half a
// lease (the other half absorbs clock skew and slow puts). One gap longer than that and it is expired
// for good: GC may have ignored it meanwhile and deleted what it relies on, so it must never commit,
// whatever heartbeats land after (a process paused past half the lease wakes up expired).
import { randomBytes, randomUUID } from 'node:crypto'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { PREFIX_SESSIONS } from './format/constants.js'
import {
  encodeBorrowed,
  encodeSessionOpen,
  sessionBeatKey,
  sessionBorrowKey,
  sessionOpenKey,
} from './format/session.js'
import { SweepWatch, waitForSweeps, type Warn } from './sweeps.js'

export interface SessionTiming {
  /** A session whose newest object is older than this is dead to GC. */
  readonly leaseMs: number
  readonly heartbeatMs: number
  /** How long stored and borrowed chunks gather before one check (and one borrow segment) covers them. */
  readonly batchMs: number
  readonly pollMs: number
  /**
   * Writers count a sweep announcement in force until its deadline plus this; GC aborts each delete
   * after half of it (the other half absorbs clocks that disagree). Default 1 minute. Writers and GC
   * must agree on it.
   */
  readonly deleteTimeoutMs?: number
  /**
   * A GC keeps its announcement this long after its last delete and starts no delete later than this
   * before its deadline; a writer whose sweep listing came back within this long after it stored or
   * found a chunk needs no second look at that chunk (default 10 s). Writers and GC must agree on it.
   */
  readonly checkWindowMs?: number
}

export const DEFAULT_TIMING: Required<SessionTiming> = {
  leaseMs: 15 * 60_000,
  heartbeatMs: 60_000,
  batchMs: 20,
  pollMs: 1000,
  deleteTimeoutMs: 60_000,
  checkWindowMs: 10_000,
}

export function fullTiming(timing: SessionTiming): Required<SessionTiming> {
  return {
    ...timing,
    deleteTimeoutMs: timing.deleteTimeoutMs ?? DEFAULT_TIMING.deleteTimeoutMs,
    checkWindowMs: timing.checkWindowMs ?? DEFAULT_TIMING.checkWindowMs,
  }
}

/** A moment on both clocks: the wall clock may be stepped, the monotonic one stops in a suspend. */
export interface Instant {
  readonly wall: number
  readonly mono: number
}

export const instant = (): Instant => ({ wall: Date.now(), mono: performance.now() })

/** Time since `then`, on whichever clock saw more of it. */
export const since = (then: Instant): number =>
  Math.max(Date.now() - then.wall, performance.now() - then.mono)

export class BackupSession {
  readonly id = `${Date.now().toString(36)}-${randomUUID()}`
  readonly timing: Required<SessionTiming>
  readonly sweeps: SweepWatch
  #beats = 0
  #segments = 0
  /** When the newest session object that landed was sent (its store time is no earlier). */
  #last = instant()
  #expired: string | undefined
  #beatError: unknown
  #timer: NodeJS.Timeout | undefined

  private constructor(
    readonly repo: Repository,
    timing: SessionTiming,
    warn?: Warn,
  ) {
    this.timing = fullTiming(timing)
    this.sweeps = new SweepWatch(repo, this.timing, warn)
  }

  static async open(
    repo: Repository,
    vm: string,
    pointId: string,
    bases: readonly string[],
    timing: SessionTiming = DEFAULT_TIMING,
    signal?: AbortSignal,
    warn?: Warn,
  ): Promise<BackupSession> {
    const session = new BackupSession(repo, timing, warn)
    const open = { vm, pointId, bases, started: new Date().toISOString() }
    await session.#putRecord(sessionOpenKey(session.id), encodeSessionOpen(open), signal)
    session.#timer = setInterval(() => void session.#beat(), timing.heartbeatMs)
    session.#timer.unref()
    // Bases were published above; a sweep that started before could have missed them: let it finish.
    await waitForSweeps(repo, session.timing, signal, warn)
    return session
  }

  async #beat(): Promise<void> {
    try {
      await this.#putRecord(sessionBeatKey(this.id, ++this.#beats), randomBytes(8))
    } catch (error) {
      this.#beatError = error
    }
  }

  /** Every session object goes through here: it renews the lease, if the lease still holds. */
  async #putRecord(key: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const sent = instant()
    this.assertAlive()
    await this.repo.putNew(key, bytes, signal)
    // Landed now at the latest: if the previous object's lease ran out before, the gap was seen by GC.
    this.assertAlive()
    if (sent.wall > this.#last.wall) this.#last = sent
  }

  /** Throws SESSION_EXPIRED (retryable: a new attempt opens a new session) once the lease may have lapsed. */
  assertAlive(): void {
    const quiet = since(this.#last)
    if (this.#expired === undefined && quiet > this.timing.leaseMs / 2)
      this.#expired = `went ${Math.round(quiet)} ms without a session object (lease ${this.timing.leaseMs} ms)`
    if (this.#expired !== undefined) {
      throw new RepositoryError(
        'SESSION_EXPIRED',
        `backup session ${this.id} in repository '${this.repo.name}' ${this.#expired}: a GC may have ` +
          `ignored it, so it cannot commit; the backup must run again (or resume)`,
        { cause: this.#beatError, retryable: true },
      )
    }
  }

  /** Publishes ids of chunks this backup relies on without having created them (one segment). */
  async publishBorrowed(ids: readonly Uint8Array[], signal?: AbortSignal): Promise<void> {
    await this.#putRecord(sessionBorrowKey(this.id, ++this.#segments), encodeBorrowed(ids), signal)
  }

  /** Resolves once every GC sweep in force at the time of the call has ended (listings are shared). */
  sweepsEnded(signal?: AbortSignal): Promise<void> {
    return this.sweeps.ended(undefined, signal)
  }

  /** Ends the session: its objects are removed (GC removes those of crashed sessions). */
  async close(signal?: AbortSignal): Promise<void> {
    clearInterval(this.#timer)
    const keys: string[] = []
    for await (const info of this.repo.store.list(`${PREFIX_SESSIONS}${this.id}/`, { signal }))
      keys.push(info.key)
    // 'open' last: until it goes, GC still sees the session as one entity.
    keys.sort((a, b) => Number(a.endsWith('/open')) - Number(b.endsWith('/open')))
    for (const key of keys) await this.repo.store.delete(key, { signal })
  }
}
