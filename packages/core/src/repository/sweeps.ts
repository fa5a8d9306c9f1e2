// What writers know of GC sweeps: the announcements (gc/<run>-<n>/sweep) in force, read from a listing
// that starts after the caller asked, and waits until the ones in force at some moment have ended.
// An announcement is in force until it is withdrawn or until its deadline plus the delete timeout (a
// GC starts no delete after its deadline and gives each one that long), unless its deadline lies so
// far ahead that no GC could have announced it: that one is ignored with a warning rather than
// letting a broken clock or a stray record stop every backup.
import { raceAbort, sleep } from '../shared/index.js'
import { isNotFound } from '../storage/index.js'
import type { Repository } from './repository.js'
import { PREFIX_GC } from './format/constants.js'
import { decodeGcSweep } from './format/session.js'

/** The longest sweep deadline a GC announces (gc.ts refuses longer ones). */
export const MAX_SWEEP_DEADLINE_MS = 60 * 60_000
/** Announced deadlines further ahead than this are ignored: MAX_SWEEP_DEADLINE_MS plus an hour of clock skew. */
export const FAR_DEADLINE_MS = MAX_SWEEP_DEADLINE_MS + 60 * 60_000

export interface SweepTiming {
  readonly pollMs: number
  /** How long a GC delete may take: announcements stay in force this long past their deadline. */
  readonly deleteTimeoutMs: number
}

export type Warn = (message: string) => void

/** process.emitWarning: a warning is never silent, even without a caller's logger. */
export const defaultWarn: Warn = (message) => process.emitWarning(message, { code: 'STRATA_GC_RECORD' })

/**
 * Sweep listings for one backup session: concurrent callers share them (see FreshRun), so that a
 * batch of chunks costs one listing, not one per chunk (on S3, a paid request each).
 */
export class SweepWatch {
  readonly #warned = new Set<string>()
  readonly #inForce = new FreshRun(() => sweepsInForce(this.repo, this.timing, this.#warn))

  constructor(
    readonly repo: Repository,
    readonly timing: SweepTiming,
    readonly warn: Warn = defaultWarn,
  ) {}

  readonly #warn: Warn = (message) => {
    if (this.#warned.has(message)) return
    this.#warned.add(message)
    this.warn(message)
  }

  /** The announcements in force, from a listing that started after this call. */
  inForce(signal?: AbortSignal): Promise<Set<string>> {
    return raceAbort(this.#inForce.run(), signal)
  }

  /** Resolves once every announcement in `among` (default: those in force now) has ended. */
  async ended(among?: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    let waiting = among ?? (await this.inForce(signal))
    while (waiting.size > 0) {
      await sleep(this.timing.pollMs, signal)
      waiting = await sweepsInForce(this.repo, this.timing, this.#warn, waiting, signal)
    }
  }
}

/**
 * Waits until every GC sweep announcement in force now has ended. Announcements that appear later do
 * not matter: their GC reads the sessions after publishing them, so it sees what the caller published
 * before calling.
 */
export function waitForSweeps(
  repo: Repository,
  timing: SweepTiming,
  signal?: AbortSignal,
  warn: Warn = defaultWarn,
): Promise<void> {
  return new SweepWatch(repo, timing, warn).ended(undefined, signal)
}

/** The keys of the sweep announcements in force now (among `among`, when given). */
async function sweepsInForce(
  repo: Repository,
  timing: SweepTiming,
  warn: Warn,
  among?: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const inForce = new Set<string>()
  for await (const info of repo.store.list(PREFIX_GC, { signal })) {
    if (!info.key.endsWith('/sweep') || (among !== undefined && !among.has(info.key))) continue
    try {
      const sweep = decodeGcSweep(await repo.store.get(info.key, { signal }), `GC record '${info.key}'`)
      if (isInForce(info.key, Date.parse(sweep.deadline), timing, warn)) inForce.add(info.key)
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  return inForce
}

function isInForce(key: string, deadline: number, timing: SweepTiming, warn: Warn): boolean {
  const now = Date.now()
  if (Number.isNaN(deadline) || deadline - now > FAR_DEADLINE_MS) {
    const when = Number.isNaN(deadline) ? 'an unreadable deadline' : new Date(deadline).toISOString()
    warn(
      `GC record '${key}' announces ${when}, not a deadline any GC announces: ignored ` +
        `(check the clocks of the machines that run GC and backups)`,
    )
    return false
  }
  return now < deadline + timing.deleteTimeoutMs
}

/**
 * Runs of a check whose answer must come from after the caller's call, shared by concurrent callers: a
 * call made while a run is going waits for the next one, which starts when the running one ends and
 * serves every caller that came meanwhile.
 */
export class FreshRun<T> {
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
