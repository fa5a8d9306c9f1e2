// The daily summary of every job: a scheduled task of the server (croner, at the configured time in the
// configured time zone, like the jobs' schedules) that sends what the last 24 hours held: for each job,
// its runs by state, its last run and last success, and the VMs that failed with their own reason (read
// from the failed runs' task trees). Sent through every channel, like run reports, whatever the report
// policies (an admin turns it on for this).
import { Cron } from 'croner'
import type { TaskNode } from '@strata/core/engine'
import type { JobStore } from '../jobs/job-store.js'
import type { RunRow, RunStore } from '../runs/run-store.js'
import type { ServerLog } from '../server-log.js'
import type { Report } from './channels.js'
import type { NotificationStore } from './notification-store.js'
import type { Notifier } from './notifier.js'
import { isFailure, runUrl, summarizeRun } from './run-summary.js'
import type { DaySummary, SummaryJob } from './day-summary.js'
import { summaryEmail } from './summary-email.js'

export const SUMMARY_WINDOW_MS = 24 * 3600_000

export interface DailySummaryDeps {
  readonly store: NotificationStore
  readonly jobs: Pick<JobStore, 'list'>
  readonly runs: Pick<RunStore, 'list'>
  readonly lastSuccess: (jobId: string) => Promise<number | undefined>
  /** A run's task tree, where each failed VM's reason is. */
  readonly tree: (runId: string) => Promise<TaskNode>
  readonly notifier: Notifier
  readonly log: ServerLog
}

export class DailySummaryTask {
  #cron: Cron | undefined

  constructor(readonly deps: DailySummaryDeps) {}

  /** (Re)arms the task from the settings; call after they change. */
  async reload(): Promise<void> {
    this.stop()
    const daily = (await this.deps.store.global()).dailySummary
    if (!daily.enabled) return
    const [hours, minutes] = daily.time.split(':').map(Number)
    this.#cron = new Cron(`${minutes} ${hours} * * *`, { timezone: daily.timezone, protect: true }, () =>
      this.fire(),
    )
  }

  nextRun(): number | undefined {
    return this.#cron?.nextRun()?.getTime()
  }

  stop(): void {
    this.#cron?.stop()
    this.#cron = undefined
  }

  /** Sends the summary of the 24 hours before now, in the background. */
  fire(now = Date.now()): void {
    const signal = new AbortController().signal
    this.deps.notifier.track(this.report(now).then((report) => this.deps.notifier.sendNow(report, signal)))
  }

  async report(now = Date.now()): Promise<Report> {
    const summary = await this.summarize(now)
    return {
      what: `the daily summary of ${new Date(now).toISOString().slice(0, 10)}`,
      mail: summaryEmail(summary),
      event: 'daily-summary',
      payload: { summary },
    }
  }

  async summarize(now: number): Promise<DaySummary> {
    const from = now - SUMMARY_WINDOW_MS
    const rows = (await this.deps.runs.list({ since: from, limit: 10_000 })).filter(
      (r) => r.kind !== 'restore' && r.start < now,
    )
    const publicUrl = (await this.deps.store.global()).publicUrl
    const jobs = await Promise.all(
      (await this.deps.jobs.list()).map(async (job) => {
        const runs = rows.filter((r) => r.jobId === job.id)
        const failedVms = await this.#failedVms(runs)
        return summarizeJob(job, runs, await this.deps.lastSuccess(job.id), publicUrl, failedVms)
      }),
    )
    return { from, to: now, jobs }
  }

  /** The failed VMs of a job's failed runs (newest first, at most MAX_FAILED_VMS), each with its reason. */
  async #failedVms(runs: readonly RunRow[]): Promise<SummaryJob['failedVms']> {
    const failed: SummaryJob['failedVms'][number][] = []
    for (const run of runs.filter((r) => isFailure(r.status))) {
      if (failed.length >= MAX_FAILED_VMS) break
      const tree = await this.deps.tree(run.runId).catch(() => undefined)
      for (const vm of summarizeRun(run, tree).vms.filter((v) => isFailure(v.status))) {
        const reason = vm.error?.message ?? run.error?.message
        failed.push({ name: vm.name, runId: run.runId, ...(reason === undefined ? {} : { reason }) })
      }
    }
    return failed.slice(0, MAX_FAILED_VMS)
  }
}

const MAX_FAILED_VMS = 50

function summarizeJob(
  job: { id: string; name: string },
  runs: readonly RunRow[],
  lastSuccess: number | undefined,
  publicUrl: string | undefined,
  failedVms: SummaryJob['failedVms'],
): SummaryJob {
  const states: Record<string, number> = {}
  for (const r of runs) states[r.status] = (states[r.status] ?? 0) + 1
  const last = runs[0] // newest first
  const url = last === undefined ? undefined : runUrl(publicUrl, last.runId)
  return {
    jobId: job.id,
    jobName: job.name,
    runs: runs.length,
    states,
    ...(last === undefined
      ? {}
      : {
          lastRun: {
            runId: last.runId,
            status: last.status,
            start: last.start,
            ...(url === undefined ? {} : { url }),
          },
        }),
    ...(lastSuccess === undefined ? {} : { lastSuccess }),
    failedVms,
  }
}
