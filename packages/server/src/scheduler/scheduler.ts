// Fires jobs' schedules: cron expressions in each schedule's time zone (croner does the calendar and DST
// arithmetic), one timer for the earliest due schedule, re-armed at least every minute so that a clock
// change or a long sleep is noticed. A job never runs twice at once: a schedule that comes due while its
// job runs is skipped with a warning (like a run started by hand while one runs).
//
// Missed runs (the server was down when a schedule came due): at start-up, a schedule whose last due
// time since it last fired is less than 24 hours old runs once, right away; older misses are not caught
// up, and several misses still make one run. A schedule never fired before (new) starts from now.
//
// In a cluster (a gate: cluster/coordinator.ts), every instance keeps the timers but only the leader
// fires, and only the ticks it claims (each due time fires once across instances, even in the moment two
// instances both believe they lead). The missed-run rule then runs when an instance becomes the leader
// (takeOver): the latest due time since the schedule last fired anywhere, if no one fired it.
import { Cron } from 'croner'
import { errorMessage } from '@strata/core'
import type { Db } from '../db/database.js'
import type { ApiJob, ApiSchedule } from '../jobs/job-model.js'
import type { JobStore } from '../jobs/job-store.js'
import type { Coordinator } from '../cluster/coordinator.js'
import type { ServerLog } from '../server-log.js'

export const CATCH_UP_WINDOW_MS = 24 * 3600_000
const MAX_SLEEP_MS = 60_000

export interface SchedulerDeps {
  readonly db: Db
  readonly jobs: Pick<JobStore, 'list'>
  /** `dueAt`: the tick fired (ms), which a run on an agent carries (it runs each tick once). */
  readonly start: (job: ApiJob, scheduleId: string, dueAt: number) => Promise<unknown> | void
  readonly log: ServerLog
  /** The cluster's say over firing; none: this instance fires alone. */
  readonly gate?: TickGate
}

export type TickGate = Pick<Coordinator, 'isLeader' | 'claimTick' | 'lastTick'>

export interface NextRun {
  readonly jobId: string
  readonly jobName: string
  readonly scheduleId: string
  readonly at: number
}

interface Armed {
  readonly job: ApiJob
  readonly schedule: ApiSchedule
  readonly cron: Cron
  at: number | undefined
}

export class Scheduler {
  #armed: Armed[] = []
  #timer: NodeJS.Timeout | undefined
  #started = false
  /** How late the last schedule fired after its due time (ms). */
  #lastLagMs = 0

  constructor(readonly deps: SchedulerDeps) {}

  /** Applies the missed-run rule, then fires schedules as they come due. */
  async start(): Promise<void> {
    this.#started = true
    await this.#load()
    const now = Date.now()
    if (this.deps.gate !== undefined) {
      for (const a of this.#armed)
        if ((await this.#lastFired(a)) === undefined) await this.#setLastFired(a, now)
      this.#arm()
      if (this.deps.gate.isLeader()) await this.takeOver()
      return
    }
    for (const a of this.#armed) {
      const last = await this.#lastFired(a)
      if (last === undefined) {
        await this.#setLastFired(a, now)
        continue
      }
      const missed = a.cron.nextRun(new Date(last))?.getTime()
      if (missed !== undefined && missed <= now && now - missed <= CATCH_UP_WINDOW_MS) {
        this.deps.log.info(
          `schedule '${a.schedule.id}' of job '${a.job.name}' was missed at ${new Date(missed).toISOString()}: running it now`,
        )
        await this.#fire(a, now)
      }
    }
    this.#arm()
  }

  /** After jobs changed. */
  async reload(): Promise<void> {
    if (!this.#started) return
    await this.#load()
    const now = Date.now()
    for (const a of this.#armed)
      if ((await this.#lastFired(a)) === undefined) await this.#setLastFired(a, now)
    this.#arm()
  }

  /**
   * This instance became the cluster's leader: a schedule whose latest due time (within the catch-up
   * window) is after its last firing anywhere fires now, the due time claimed like any tick.
   */
  async takeOver(): Promise<void> {
    const gate = this.deps.gate
    if (gate === undefined || !this.#started) return
    const now = Date.now()
    for (const a of this.#armed) {
      const due = a.cron.previousRuns(1, new Date(now))[0]?.getTime()
      if (due === undefined || now - due > CATCH_UP_WINDOW_MS) continue
      try {
        const last = Math.max(
          (await gate.lastTick(a.job.id, a.schedule.id)) ?? -1,
          (await this.#lastFired(a)) ?? -1,
        )
        if (last < 0 || due <= last) continue
      } catch (error) {
        this.deps.log.warn(`schedule '${a.schedule.id}' of job '${a.job.name}': ${errorMessage(error)}`)
        continue
      }
      this.deps.log.info(
        `schedule '${a.schedule.id}' of job '${a.job.name}' came due at ${new Date(due).toISOString()} without a leader: running it now`,
      )
      await this.#fire(a, Date.now(), due)
    }
  }

  stop(): void {
    this.#started = false
    clearTimeout(this.#timer)
  }

  nextRuns(): NextRun[] {
    return this.#armed
      .filter((a) => a.at !== undefined)
      .map((a) => ({ jobId: a.job.id, jobName: a.job.name, scheduleId: a.schedule.id, at: a.at! }))
      .sort((x, y) => x.at - y.at)
  }

  /**
   * The scheduler's lag (metrics): how late the last schedule fired, or how long a schedule is overdue
   * now if that is more (a stuck timer, a blocked event loop).
   */
  lagMs(now = Date.now()): number {
    const overdue = this.#armed.map((a) => (this.#started && a.at !== undefined ? now - a.at : 0))
    return Math.max(this.#lastLagMs, 0, ...overdue)
  }

  nextRun(job: ApiJob): NextRun | undefined {
    return this.nextRuns().find((n) => n.jobId === job.id)
  }

  async #load(): Promise<void> {
    const now = new Date()
    const jobs = await this.deps.jobs.list()
    this.#armed = []
    for (const job of jobs) {
      if (!job.enabled) continue
      for (const schedule of job.schedules) {
        if (!schedule.enabled) continue
        try {
          const cron = new Cron(schedule.cron, { timezone: schedule.timezone, paused: true })
          this.#armed.push({ job, schedule, cron, at: cron.nextRun(now)?.getTime() })
        } catch (error) {
          this.deps.log.error(
            `schedule '${schedule.id}' of job '${job.name}' is not usable: ${errorMessage(error)}`,
          )
        }
      }
    }
  }

  #arm(): void {
    clearTimeout(this.#timer)
    if (!this.#started) return
    const next = Math.min(...this.#armed.map((a) => a.at ?? Infinity))
    const delay = Math.max(0, Math.min(next - Date.now(), MAX_SLEEP_MS))
    this.#timer = setTimeout(() => void this.#tick(), delay)
    this.#timer.unref()
  }

  /** Never rejects: a database error is logged and the next tick tries again. */
  async #tick(): Promise<void> {
    const now = Date.now()
    try {
      for (const a of this.#armed) {
        if (a.at === undefined || a.at > now) continue
        this.#lastLagMs = now - a.at
        const dueAt = a.at
        a.at = a.cron.nextRun(new Date(Math.max(now, a.at)))?.getTime()
        await this.#fire(a, dueAt)
      }
    } catch (error) {
      this.deps.log.error(`the scheduler could not fire a schedule: ${errorMessage(error)}`)
    }
    this.#arm()
  }

  /** Fires now (as of `time`); in a cluster, only the leader and only if it claims the tick `dueAt`. */
  async #fire(a: Armed, time: number, dueAt = time): Promise<void> {
    const gate = this.deps.gate
    if (gate !== undefined) {
      if (!gate.isLeader()) return
      try {
        if (!(await gate.claimTick(a.job.id, a.schedule.id, dueAt)) || !this.#started) return
      } catch (error) {
        const at = new Date(dueAt).toISOString()
        this.deps.log.error(
          `schedule '${a.schedule.id}' of job '${a.job.name}' not fired at ${at}: ${errorMessage(error)}`,
        )
        return
      }
    }
    await this.#setLastFired(a, time)
    try {
      await this.deps.start(a.job, a.schedule.id, dueAt)
    } catch (error) {
      this.deps.log.warn(`schedule '${a.schedule.id}' of job '${a.job.name}' skipped: ${errorMessage(error)}`)
    }
  }

  async #lastFired(a: Armed): Promise<number | undefined> {
    const row = (await this.deps.db.get(
      'SELECT last_fired FROM schedule_state WHERE job_id = ? AND schedule_id = ?',
      [a.job.id, a.schedule.id],
    )) as { last_fired: number } | undefined
    return row?.last_fired
  }

  async #setLastFired(a: Armed, time: number): Promise<void> {
    await this.deps.db.run(
      'INSERT INTO schedule_state (job_id, schedule_id, last_fired) VALUES (?, ?, ?) ON CONFLICT(job_id, schedule_id) DO UPDATE SET last_fired = excluded.last_fired',
      [a.job.id, a.schedule.id, time],
    )
  }
}
