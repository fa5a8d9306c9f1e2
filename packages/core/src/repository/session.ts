// A backup session: announces a running backup to GC (base indexes, borrowed chunks) and keeps a lease
// alive with heartbeat objects. The borrow protocol: a writer that relies on a chunk it did not upload
// publishes its id first, then waits for any GC sweep in progress, then checks the chunk again. GC
// announces its sweep first, then reads sessions, then deletes. One of the two always sees the other.
import { randomBytes, randomUUID } from 'node:crypto'
import { raceAbort, sleep } from '../shared/index.js'
import { isNotFound } from '../storage/index.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { PREFIX_GC, PREFIX_SESSIONS } from './format/constants.js'
import {
  decodeGcSweep,
  encodeBorrowed,
  encodeSessionOpen,
  sessionBeatKey,
  sessionBorrowKey,
  sessionOpenKey,
} from './format/session.js'

export interface SessionTiming {
  /** A session whose newest object is older than this is dead to GC. */
  readonly leaseMs: number
  readonly heartbeatMs: number
  /** How long borrowed ids gather before one segment publishes them. */
  readonly batchMs: number
  readonly pollMs: number
}

export const DEFAULT_TIMING: SessionTiming = {
  leaseMs: 15 * 60_000,
  heartbeatMs: 60_000,
  batchMs: 20,
  pollMs: 1000,
}

export class BackupSession {
  readonly id = `${Date.now().toString(36)}-${randomUUID()}`
  #beats = 0
  #segments = 0
  #lastBeat = Date.now()
  #beatError: unknown
  #timer: NodeJS.Timeout | undefined
  #pending: { id: Uint8Array; done: () => void; fail: (e: unknown) => void }[] = []
  #flushing: Promise<void> | undefined
  readonly #sweepsEnded = new FreshRun(() => waitForSweeps(this.repo, this.timing.pollMs))
  readonly #inForce = new FreshRun(() => sweepsInForce(this.repo))

  private constructor(
    readonly repo: Repository,
    readonly timing: SessionTiming,
  ) {}

  static async open(
    repo: Repository,
    vm: string,
    pointId: string,
    bases: readonly string[],
    timing: SessionTiming = DEFAULT_TIMING,
    signal?: AbortSignal,
  ): Promise<BackupSession> {
    const session = new BackupSession(repo, timing)
    const open = { vm, pointId, bases, started: new Date().toISOString() }
    await repo.putNew(sessionOpenKey(session.id), encodeSessionOpen(open), signal)
    session.#timer = setInterval(() => void session.#beat(), timing.heartbeatMs)
    session.#timer.unref()
    // Bases were published above; a sweep that started before could have missed them: let it finish.
    await waitForSweeps(repo, timing.pollMs, signal)
    return session
  }

  async #beat(): Promise<void> {
    try {
      await this.repo.putNew(sessionBeatKey(this.id, ++this.#beats), randomBytes(8))
      this.#lastBeat = Date.now()
    } catch (error) {
      this.#beatError = error
    }
  }

  /** Throws if the lease may have lapsed: GC could then have ignored this session. */
  assertAlive(): void {
    const quiet = Date.now() - this.#lastBeat
    if (quiet > this.timing.leaseMs / 2) {
      throw new RepositoryError(
        'SESSION_EXPIRED',
        `backup session ${this.id} in repository '${this.repo.name}' missed its heartbeats for ${quiet} ms`,
        { cause: this.#beatError },
      )
    }
  }

  /**
   * Publishes that this backup relies on an existing chunk and returns once no GC sweep that could have
   * missed the publication is running. The caller must then check that the chunk still exists.
   */
  borrow(id: Uint8Array, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.#pending.push({ id, done, fail })
      this.#flushing ??= this.#flush(signal)
    })
  }

  async #flush(signal?: AbortSignal): Promise<void> {
    await sleep(this.timing.batchMs, signal).catch(() => undefined)
    const batch = this.#pending
    this.#pending = []
    this.#flushing = undefined
    try {
      this.assertAlive()
      await this.repo.putNew(
        sessionBorrowKey(this.id, ++this.#segments),
        encodeBorrowed(batch.map((b) => b.id)),
        signal,
      )
      this.#lastBeat = Date.now()
      await waitForSweeps(this.repo, this.timing.pollMs, signal)
      for (const b of batch) b.done()
    } catch (error) {
      for (const b of batch) b.fail(error)
    }
  }

  /**
   * Resolves once every GC sweep in force at the time of the call has ended (see waitForSweeps).
   * Concurrent callers share listings (see FreshRun): one per batch of new chunks, not one per chunk,
   * which on S3 is a paid request.
   */
  sweepsEnded(signal?: AbortSignal): Promise<void> {
    return raceAbort(this.#sweepsEnded.run(), signal)
  }

  /** Whether any GC sweep announcement is in force, from a listing started after the call (shared too). */
  async sweepInForce(signal?: AbortSignal): Promise<boolean> {
    return (await raceAbort(this.#inForce.run(), signal)).size > 0
  }

  /** Ends the session: its objects are removed (GC removes those of crashed sessions). */
  async close(signal?: AbortSignal): Promise<void> {
    clearInterval(this.#timer)
    while (this.#flushing !== undefined) await this.#flushing.catch(() => undefined)
    const keys: string[] = []
    for await (const info of this.repo.store.list(`${PREFIX_SESSIONS}${this.id}/`, { signal }))
      keys.push(info.key)
    // 'open' last: until it goes, GC still sees the session as one entity.
    keys.sort((a, b) => Number(a.endsWith('/open')) - Number(b.endsWith('/open')))
    for (const key of keys) await this.repo.store.delete(key, { signal })
  }
}

/**
 * Runs of a check whose answer must come from after the caller's call, shared by concurrent callers: a
 * call made while a run is going waits for the next one, which starts when the running one ends and
 * serves every caller that came meanwhile.
 */
class FreshRun<T> {
  #running: Promise<T> | undefined
  #queued: Promise<T> | undefined

  constructor(readonly check: () => Promise<T>) {}

  run(): Promise<T> {
    if (this.#queued !== undefined) return this.#queued
    const queued = (this.#running ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        const running = this.check()
        this.#running = running
        this.#queued = undefined // callers from now on need a run that starts after them
        void running
          .finally(() => {
            if (this.#running === running) this.#running = undefined
          })
          .catch(() => undefined)
        return running
      })
    queued.catch(() => undefined) // each caller sees a failure; none is left unhandled
    this.#queued = queued
    return queued
  }
}

/**
 * Waits until every GC sweep announcement in force now is withdrawn or past its deadline. Announcements
 * that appear later do not matter: their GC reads the sessions after publishing them, so it sees what
 * the caller published before calling.
 */
export async function waitForSweeps(repo: Repository, pollMs: number, signal?: AbortSignal): Promise<void> {
  let waiting: Set<string> | undefined
  for (;;) {
    const inForce = await sweepsInForce(repo, waiting, signal)
    if (inForce.size === 0) return
    waiting = inForce
    await sleep(pollMs, signal)
  }
}

/** The keys of the sweep announcements in force now (among `among`, when given). */
async function sweepsInForce(
  repo: Repository,
  among?: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const inForce = new Set<string>()
  for await (const info of repo.store.list(PREFIX_GC, { signal })) {
    if (!info.key.endsWith('/sweep') || (among !== undefined && !among.has(info.key))) continue
    try {
      const sweep = decodeGcSweep(await repo.store.get(info.key, { signal }), `GC record '${info.key}'`)
      if (Date.parse(sweep.deadline) > Date.now()) inForce.add(info.key)
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  return inForce
}
