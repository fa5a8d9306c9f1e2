// The logs page's filter: what the API is asked (`?job=&state=&since=`, the date read in UTC by the
// server) and whether a run that arrives live belongs in the list shown.
import type { RunSummary } from '@strata/contract'

export interface RunFilter {
  job: string
  state: string
  /** YYYY-MM-DD (UTC), or ''. */
  since: string
}

export function runQuery(filter: RunFilter): { job?: string; state?: string; since?: string } {
  return {
    ...(filter.job === '' ? {} : { job: filter.job }),
    ...(filter.state === '' ? {} : { state: filter.state }),
    ...(filter.since === '' ? {} : { since: filter.since }),
  }
}

export function matchesFilter(run: RunSummary, filter: RunFilter): boolean {
  const since = filter.since === '' ? undefined : Date.parse(`${filter.since}T00:00:00Z`)
  return (
    (filter.job === '' || run.jobId === filter.job) &&
    (filter.state === '' || run.status === filter.state) &&
    (since === undefined || Number.isNaN(since) || run.start >= since)
  )
}
