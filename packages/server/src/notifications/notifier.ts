// Reports runs once their record is final, off the run's critical path: the run has ended and its job
// is free before anything here starts, each report is bounded in time, and whatever a channel does
// (refuses, hangs, answers 500) ends as a line in the server's log, never in the run. A job's policy
// ('default' = the server's) decides whether a run is reported at all.
import { formatRunReport, type TaskNode } from '@strata/core/engine'
import { anySignal, errorMessage } from '@strata/core'
import type { JobReport, ReportPolicy } from '@strata/contract'
import type { JobStore } from '../jobs/job-store.js'
import type { RunRow } from '../runs/run-store.js'
import type { ServerLog } from '../server-log.js'
import { sendEverywhere, type ChannelOptions, type Report } from './channels.js'
import { runEmail } from './email-content.js'
import type { NotificationStore } from './notification-store.js'
import { isFailure, summarizeRun } from './run-summary.js'

export interface NotifierDeps extends ChannelOptions {
  readonly store: NotificationStore
  readonly jobs: Pick<JobStore, 'list'>
  /** The run's task tree, with names (RunManager.tree). */
  readonly tree: (runId: string) => Promise<TaskNode>
  readonly log: ServerLog
  /** The most one report may take, every channel and retry included. */
  readonly reportTimeoutMs?: number
}

export const REPORT_TIMEOUT_MS = 120_000

/** Whether a run that ended with `status` is reported under `policy`. */
export function shouldReport(policy: ReportPolicy, status: string): boolean {
  if (status === 'pending') return false
  return policy === 'always' || (policy === 'failure' && isFailure(status))
}

export function effectivePolicy(job: JobReport | undefined, server: ReportPolicy): ReportPolicy {
  return job === undefined || job === 'default' ? server : job
}

export class Notifier {
  readonly #inFlight = new Set<Promise<void>>()
  readonly #stopping = new AbortController()

  constructor(readonly deps: NotifierDeps) {}

  /** Called with a run's final record; returns at once, the report goes on in the background. */
  async runEnded(row: RunRow): Promise<void> {
    if (row.status === 'pending' || row.kind === 'restore' || this.#stopping.signal.aborted) return
    const job = (await this.deps.jobs.list()).find((j) => j.id === row.jobId)
    const policy = effectivePolicy(job?.report, (await this.deps.store.global()).report)
    if (!shouldReport(policy, row.status)) return
    this.track(this.#report(row))
  }

  /** Sends a report now and waits for it (the test button of the settings). */
  async sendNow(report: Report, signal: AbortSignal): Promise<void> {
    await sendEverywhere(this.deps.store, report, this.deps.log, this.#signal(signal), this.deps)
  }

  /** Keeps a report in flight until it ends, so that close() can stop and wait for it. */
  track(report: Promise<void>): void {
    const settled: Promise<void> = report
      .catch((error: unknown) => this.deps.log.error(`a report failed: ${errorMessage(error)}`))
      .finally(() => this.#inFlight.delete(settled))
    this.#inFlight.add(settled)
  }

  /** Reports still being sent (tests wait for them). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight])
  }

  async close(): Promise<void> {
    this.#stopping.abort(new Error('the server is stopping'))
    await this.idle()
  }

  #signal(extra?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.deps.reportTimeoutMs ?? REPORT_TIMEOUT_MS)
    return anySignal(this.#stopping.signal, timeout, extra)
  }

  async #report(row: RunRow): Promise<void> {
    const tree = await this.deps.tree(row.runId).catch(() => undefined)
    const summary = summarizeRun(row, tree, (await this.deps.store.global()).publicUrl)
    const text =
      tree === undefined ? `Run ${row.runId} of '${row.jobName}': ${row.status}\n` : formatRunReport(tree)
    const report: Report = {
      what: `the report of run ${row.runId} of '${row.jobName}'`,
      mail: runEmail(summary, text),
      event: 'run',
      payload: { run: summary },
    }
    await sendEverywhere(this.deps.store, report, this.deps.log, this.#signal(), this.deps)
  }
}
