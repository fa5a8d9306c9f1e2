// A repository's usage history as GET /api/repositories/:id/usage-history gives it: the usage samples
// (usage-store.ts) with their ratios, and the newest run of each maintenance task. The distinct bytes
// before compression are counted as chunks × chunk size: the repository keeps no per-chunk raw size, and
// only a disk's last chunk may be shorter, so the figure is exact but for those.
import type { LastMaintenance, MaintenanceTask, UsageHistory, UsageSample } from '@strata/contract'
import type { RunRow } from '../runs/run-store.js'

type Sample = UsageHistory['samples'][number]

const ratio = (a: number | null, b: number | null): number | null =>
  a === null || b === null || a === 0 || b === 0 ? null : a / b

export function withRatios(samples: readonly UsageSample[], chunkSize: number | null): Sample[] {
  return samples.map((s) => {
    const uniqueBytes = chunkSize === null ? null : s.chunks * chunkSize
    return {
      ...s,
      uniqueBytes,
      dedupRatio: ratio(s.logicalBytes, uniqueBytes),
      compressionRatio: ratio(uniqueBytes, s.storedBytes),
    }
  })
}

const TASKS: readonly MaintenanceTask[] = ['gc', 'check', 'verify']

/**
 * The newest run of each task among a repository's maintenance runs (newest first, as the run store
 * lists them). The maintenance runner names each run `<task> of <repository>`.
 */
export function lastMaintenance(
  runs: readonly Pick<RunRow, 'runId' | 'jobName' | 'status' | 'start' | 'end' | 'error'>[],
): UsageHistory['maintenance'] {
  const last = (task: MaintenanceTask): LastMaintenance | null => {
    const run = runs.find((r) => r.jobName?.startsWith(`${task} of `) === true)
    if (run === undefined) return null
    return {
      runId: run.runId,
      status: run.status,
      start: run.start,
      ...(run.end === undefined ? {} : { end: run.end }),
      ...(run.error === undefined ? {} : { error: run.error }),
    }
  }
  return Object.fromEntries(TASKS.map((t) => [t, last(t)])) as UsageHistory['maintenance']
}
