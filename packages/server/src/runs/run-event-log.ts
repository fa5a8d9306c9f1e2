// A run's task events in the store, when the store is PostgreSQL (shared by server instances): any
// instance rebuilds a run's tree and report from them, also after the instance that ran it died, whose
// engine log stays on its own disk. Events are appended in batches (one row per batch, at most one
// write a second per run, at once when the run's root ends), a task's progress events are coalesced to
// its latest within a batch, and a run keeps at most `maxEvents` events: past that, only task ends are
// stored (the tree's statuses stay true; the dropped messages are counted in the log). With SQLite the
// engine's file log is the record, as it always was.
import { errorMessage } from '@strata/core'
import type { TaskEvent } from '@strata/core/engine'
import type { Db } from '../db/database.js'
import type { ServerLog } from '../server-log.js'

export interface RunEventLogOptions {
  /** How long events wait to be written (1 s): the lag of another instance's view of a running run. */
  readonly flushMs?: number
  /** Events kept per run (20,000) before only task ends are. */
  readonly maxEvents?: number
}

interface Pending {
  readonly events: TaskEvent[]
  /** Events stored or waiting, against maxEvents. */
  count: number
  dropped: number
  timer?: NodeJS.Timeout
  /** The run's writes, in order. */
  writing: Promise<void>
}

/** A batch holds at most this many events; a full one is written at once. */
const BATCH = 500

export class RunEventLog {
  readonly #runs = new Map<string, Pending>()
  readonly #flushMs: number
  readonly #maxEvents: number

  constructor(
    readonly db: Db,
    readonly log: ServerLog,
    options: RunEventLogOptions = {},
  ) {
    this.#flushMs = options.flushMs ?? 1000
    this.#maxEvents = options.maxEvents ?? 20_000
  }

  /** Queues one event of a run; it is written within flushMs (the root's end at once). */
  append(runId: string, event: TaskEvent): void {
    let run = this.#runs.get(runId)
    if (run === undefined) {
      run = { events: [], count: 0, dropped: 0, writing: Promise.resolve() }
      this.#runs.set(runId, run)
    }
    if (event.type === 'progress') {
      const earlier = run.events.findLastIndex((e) => e.type === 'progress' && e.id === event.id)
      if (earlier >= 0) {
        run.events.splice(earlier, 1)
        run.count--
      }
    }
    if (run.count >= this.#maxEvents && event.type !== 'end') {
      run.dropped++
      return
    }
    run.events.push(event)
    run.count++
    const rootEnded = event.type === 'end' && event.id === '0'
    if (rootEnded || run.events.length >= BATCH) void this.#flush(runId, run, rootEnded)
    else run.timer ??= setTimeout(() => void this.#flush(runId, run, false), this.#flushMs)
  }

  /** Writes what waits, of every run (a server stopping, before its database closes). */
  async settled(): Promise<void> {
    await Promise.all([...this.#runs].map(([runId, run]) => this.#flush(runId, run, false)))
  }

  /** The run's stored events in order; undefined when none is stored. */
  async read(runId: string, signal?: AbortSignal): Promise<TaskEvent[] | undefined> {
    const rows = await this.db.all<{ events: string }>(
      'SELECT events FROM run_events WHERE run_id = ? ORDER BY seq',
      [runId],
      signal,
    )
    if (rows.length === 0) return undefined
    return rows.flatMap((r) => JSON.parse(r.events) as TaskEvent[])
  }

  #flush(runId: string, run: Pending, last: boolean): Promise<void> {
    clearTimeout(run.timer)
    run.timer = undefined
    const batch = run.events.splice(0)
    run.writing = run.writing.then(async () => {
      if (batch.length > 0) await this.#write(runId, run, batch)
      if (last) this.#end(runId, run)
    })
    return run.writing
  }

  async #write(runId: string, run: Pending, batch: TaskEvent[]): Promise<void> {
    try {
      // The batch's number follows the run's last (one instance writes a run, one batch at a time).
      await this.db.run(
        `INSERT INTO run_events (run_id, seq, events)
         SELECT CAST(? AS TEXT), COALESCE(MAX(seq) + 1, 0), CAST(? AS TEXT) FROM run_events WHERE run_id = ?`,
        [runId, JSON.stringify(batch), runId],
      )
    } catch (error) {
      // Kept for the next write (the run's own order holds): the database may be back by then.
      run.events.unshift(...batch)
      this.log.warn(`could not store events of run ${runId}: ${errorMessage(error)}`)
    }
  }

  /** The run ended: what failed to be written is retried once more, then the run is forgotten. */
  #end(runId: string, run: Pending): void {
    if (run.dropped > 0)
      this.log.warn(`run ${runId}: ${run.dropped} events past ${this.#maxEvents} were not stored`)
    if (run.events.length > 0) {
      const rest = run.events.splice(0)
      run.writing = run.writing.then(() => this.#write(runId, run, rest))
    }
    this.#runs.delete(runId)
  }
}
