// Rollback detection (docs/immutability.md): after each full listing of a repository's points, the
// server compares them with those it has seen committed. Points that vanished without the server's
// own retention or deletes removing them, or a newest point older than the newest it recorded, raise a
// warning on the repository (the API's `rollback`, red in the overview) that stays until an admin
// acknowledges it. An attacker who deletes or rolls back points behind the server is seen this way
// even where nothing prevented the deletion.
import type { TaskNode } from '@strata/core/engine'
import type { ServerLog } from '../server-log.js'
import type { RollbackStore, RollbackWarning, SeenPoint } from './rollback-store.js'

/** Points named in one warning (the message says how many more). */
const MAX_NAMED = 50
/** Ids of points the server removed, remembered per repository until a listing shows them gone. */
const MAX_EXCUSED = 10_000

export interface ListedPoint {
  readonly id: string
  readonly vmUuid: string
  readonly time: number
}

export class RollbackWatch {
  readonly #excused = new Map<string, Set<string>>()
  readonly #busy = new Map<string, Set<string>>()
  /**
   * The points of the last listing judged while no run was removing points, per repository, and the
   * generation of the watch's own state then (bumped by every excuse, withdrawal, run and acknowledgement):
   * the same listing judged again in the same state changes nothing, and is not read from the store again
   * (a listing of 10,000 points is made every few seconds by an open restore view).
   */
  readonly #judged = new Map<string, { ids: Set<string>; generation: number }>()
  #generation = 0

  constructor(
    readonly store: RollbackStore,
    readonly log: ServerLog,
    readonly now: () => number = Date.now,
  ) {}

  /** The server's own retention or delete removed these points: their absence is expected. */
  excuse(repositoryId: string, pointIds: readonly string[]): void {
    this.#generation++
    const set = this.#excused.get(repositoryId) ?? new Set<string>()
    for (const id of pointIds) if (set.size < MAX_EXCUSED) set.add(id)
    this.#excused.set(repositoryId, set)
  }

  /** A delete the server tried failed: the point's absence would not be expected after all. */
  withdraw(repositoryId: string, pointIds: readonly string[]): void {
    this.#generation++
    for (const id of pointIds) this.#excused.get(repositoryId)?.delete(id)
  }

  /**
   * A run of the server that may remove points (a backup's retention) starts or ends: while one runs,
   * points that vanish are not judged yet (the run says at its end which it removed).
   */
  running(repositoryId: string, runId: string, on: boolean): void {
    this.#generation++
    const runs = this.#busy.get(repositoryId) ?? new Set<string>()
    if (on) runs.add(runId)
    else runs.delete(runId)
    if (runs.size === 0) this.#busy.delete(repositoryId)
    else this.#busy.set(repositoryId, runs)
  }

  async warning(repositoryId: string): Promise<RollbackWarning | undefined> {
    return await this.store.warning(repositoryId)
  }

  /** An admin saw it: the warning goes, and what is listed now is the new reference. */
  async acknowledge(repositoryId: string, by: string): Promise<void> {
    this.#generation++
    await this.store.setWarning(repositoryId, undefined)
    const newest = (await this.store.seen(repositoryId)).reduce<SeenPoint | undefined>(newer, undefined)
    if (newest !== undefined) await this.store.setNewest(repositoryId, newest)
    this.log.info(`repository ${repositoryId}: rollback warning acknowledged by ${by}`)
  }

  /** Compares a full listing of the repository's points with what was seen; raises the warning. */
  observe(repositoryId: string, listed: readonly ListedPoint[]): Promise<void> {
    // One at a time per repository: each compares with what the one before recorded.
    const next = (this.#observing.get(repositoryId) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.#observe(repositoryId, listed))
    this.#observing.set(repositoryId, next)
    return next
  }

  readonly #observing = new Map<string, Promise<void>>()

  async #observe(repositoryId: string, listed: readonly ListedPoint[]): Promise<void> {
    const generation = this.#generation
    const judged = this.#judged.get(repositoryId)
    if (judged?.generation === generation && !this.#busy.has(repositoryId) && sameIds(judged.ids, listed))
      return
    this.#judged.delete(repositoryId)
    const excused = this.#excused.get(repositoryId) ?? new Set<string>()
    const current = new Map(listed.map((p) => [p.id, { pointId: p.id, vm: p.vmUuid, time: p.time }]))
    const seen = await this.store.seen(repositoryId)
    const known = new Set(seen.map((p) => p.pointId))
    const busy = this.#busy.has(repositoryId)
    const gone = seen.filter((p) => !current.has(p.pointId))
    const vanished = busy ? [] : gone.filter((p) => !excused.has(p.pointId))
    const added = [...current.values()].filter((p) => !known.has(p.pointId) && !excused.has(p.pointId))
    const newestNow = [...current.values()].reduce<SeenPoint | undefined>(newer, undefined)
    const recorded = await this.store.newest(repositoryId)
    const olderNewest =
      !busy &&
      recorded !== undefined &&
      !excused.has(recorded.pointId) &&
      !current.has(recorded.pointId) &&
      (newestNow === undefined || newestNow.time < recorded.time)
    if (vanished.length > 0 || olderNewest) {
      await this.#raise(repositoryId, vanished, olderNewest ? recorded : undefined, newestNow)
    } else if (
      newestNow !== undefined &&
      (recorded === undefined || newestNow.time >= recorded.time || excused.has(recorded.pointId))
    ) {
      await this.store.setNewest(repositoryId, newestNow)
    }
    // While a run may remove points, those gone stay remembered: judged once it has said which it removed.
    await this.store.update(repositoryId, added, busy ? [] : gone.map((p) => p.pointId))
    if (!busy) for (const p of gone) excused.delete(p.pointId)
    if (!busy && vanished.length === 0 && !olderNewest && generation === this.#generation)
      this.#judged.set(repositoryId, { ids: new Set(current.keys()), generation })
  }

  async #raise(
    repositoryId: string,
    vanished: readonly SeenPoint[],
    recorded: SeenPoint | undefined,
    newestNow: SeenPoint | undefined,
  ): Promise<void> {
    const before = await this.store.warning(repositoryId)
    const all = [...(before?.vanished ?? []), ...vanished].slice(0, MAX_NAMED)
    const count = (before ? countOf(before) : 0) + vanished.length
    const parts: string[] = []
    if (count > 0) {
      const named = all.map((p) => `${p.vm}/${p.pointId} (${new Date(p.time).toISOString()})`)
      const more = count > named.length ? ` and ${count - named.length} more` : ''
      parts.push(
        `${count} restore points vanished outside the server's retention and deletes: ${named.join(', ')}${more}`,
      )
    }
    const older = recorded ?? before?.newestRecorded
    if (older !== undefined) {
      const now = newestNow === undefined ? 'no point at all' : new Date(newestNow.time).toISOString()
      parts.push(
        `the newest point listed (${now}) is older than the newest recorded, ${older.vm}/${older.pointId} (${new Date(older.time).toISOString()})`,
      )
    }
    const warning: RollbackWarning = {
      message: `possible rollback or deletion behind the server: ${parts.join('; ')}`,
      vanished: all,
      ...(older === undefined ? {} : { newestRecorded: older }),
      detected: before?.detected ?? this.now(),
      ...(count > all.length ? { count } : {}),
    }
    await this.store.setWarning(repositoryId, warning)
    this.log.warn(`repository ${repositoryId}: ${warning.message}`)
  }
}

function newer(a: SeenPoint | undefined, b: SeenPoint): SeenPoint {
  return a === undefined || b.time > a.time ? b : a
}

function countOf(w: RollbackWarning): number {
  return w.count ?? w.vanished.length
}

/** Point ids a run's retention tasks removed (their `removed` facts), anywhere in its task tree. */
export function removedByRun(tree: TaskNode): string[] {
  const removed = Array.isArray(tree.data.removed)
    ? tree.data.removed.filter((x) => typeof x === 'string')
    : []
  return [...removed, ...tree.children.flatMap(removedByRun)]
}

function sameIds(ids: ReadonlySet<string>, listed: readonly ListedPoint[]): boolean {
  return ids.size === listed.length && listed.every((p) => ids.has(p.id))
}
