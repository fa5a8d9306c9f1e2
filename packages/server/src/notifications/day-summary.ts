// What the daily summary says (daily-summary.ts builds it, summary-email.ts renders it, webhooks carry it).
export interface SummaryJob {
  readonly jobId: string
  readonly jobName: string
  readonly runs: number
  readonly states: Readonly<Record<string, number>>
  readonly lastRun?: {
    readonly runId: string
    readonly status: string
    readonly start: number
    readonly url?: string
  }
  /** When the job's last successful run ended (any time, not only in the window). */
  readonly lastSuccess?: number
  readonly failedVms: readonly { readonly name: string; readonly runId: string; readonly reason?: string }[]
}

export interface DaySummary {
  readonly from: number
  readonly to: number
  readonly jobs: readonly SummaryJob[]
}
