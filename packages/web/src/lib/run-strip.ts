// The last runs of each job, newest first, for the strip of coloured squares on the jobs page.
import type { RunSummary } from '@strata/contract'

/** Runs (newest first, as the API lists them) grouped by job, at most `count` each. */
export function lastRunsByJob(runs: readonly RunSummary[], count = 10): Record<string, RunSummary[]> {
  const out: Record<string, RunSummary[]> = {}
  for (const run of runs) {
    if (run.jobId === undefined || run.kind === 'restore') continue
    const list = (out[run.jobId] ??= [])
    if (list.length < count) list.push(run)
  }
  return out
}

/** A run added or updated live: replaces the same run, else goes first; the list keeps `count`. */
export function withRun(list: readonly RunSummary[], run: RunSummary, count = 10): RunSummary[] {
  const i = list.findIndex((r) => r.runId === run.runId)
  if (i >= 0) return list.map((r) => (r.runId === run.runId ? run : r))
  return [run, ...list].slice(0, count)
}
