// What the charts draw, from the statistics the server keeps (GET /api/stats/runs and /api/stats/usage):
// pure functions, so that the numbers a chart shows and its table alternative are the same and are
// tested without a browser. Days are the browser's local days.
import type { RunStat, UsageHistory, UsageSeries } from '@strata/contract'

export interface ChartSeries {
  readonly label: string
  /** One value per label; null where this series has none (another job's run). */
  readonly data: readonly (number | null)[]
}

export interface ChartData {
  readonly labels: readonly string[]
  readonly series: readonly ChartSeries[]
}

const DAY_MS = 86_400_000

/** 'YYYY-MM-DD' of the local day of `ms`. */
export function dayKey(ms: number): string {
  const d = new Date(ms)
  const two = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`
}

/** Succeeded and failed (failed or interrupted) runs per day, for each of the `days` days up to `now`. */
export function outcomesPerDay(runs: readonly RunStat[], days: number, now: number): ChartData {
  const labels = Array.from({ length: days }, (_, i) => dayKey(now - (days - 1 - i) * DAY_MS))
  const index = new Map(labels.map((l, i) => [l, i]))
  const ok = labels.map(() => 0)
  const failed = labels.map(() => 0)
  for (const run of runs) {
    const i = index.get(dayKey(run.end))
    if (i === undefined) continue
    if (run.status === 'success') ok[i]! += 1
    else if (run.status === 'failure' || run.status === 'interrupted') failed[i]! += 1
  }
  return {
    labels,
    series: [
      { label: 'Succeeded', data: ok },
      { label: 'Failed', data: failed },
    ],
  }
}

/** One point per run in time order, one series per job: `value` of the run (durations, bytes). */
export function perJobRuns(
  runs: readonly RunStat[],
  value: (run: RunStat) => number | undefined,
  label: (ms: number) => string,
): ChartData {
  const sorted = [...runs].sort((a, b) => a.end - b.end)
  const jobs = [...new Map(sorted.map((r) => [r.jobId, r.jobName])).entries()]
  return {
    labels: sorted.map((r) => label(r.end)),
    series: jobs.map(([jobId, name]) => ({
      label: name,
      data: sorted.map((r) => (r.jobId === jobId ? (value(r) ?? null) : null)),
    })),
  }
}

/** A repository's stored and logical bytes at each sample. */
export function usageOverTime(series: UsageSeries, label: (ms: number) => string): ChartData {
  return {
    labels: series.samples.map((s) => label(s.time)),
    series: [
      { label: 'Stored', data: series.samples.map((s) => s.storedBytes) },
      { label: 'Logical', data: series.samples.map((s) => s.logicalBytes) },
    ],
  }
}

/** A repository's history (GET /api/repositories/:id/usage-history) as three charts: bytes, ratios, points. */
export function usageHistoryCharts(
  history: UsageHistory,
  label: (ms: number) => string,
): { bytes: ChartData; ratios: ChartData; points: ChartData } {
  const labels = history.samples.map((s) => label(s.time))
  const series = (name: string, value: (s: UsageHistory['samples'][number]) => number | null) => ({
    label: name,
    data: history.samples.map(value),
  })
  return {
    bytes: usageOverTime(history, label),
    ratios: {
      labels,
      series: [
        series('Deduplication', (s) => s.dedupRatio),
        series('Compression', (s) => s.compressionRatio),
      ],
    },
    points: { labels, series: [series('Restore points', (s) => s.points)] },
  }
}

/** How many values a chart draws (what tests and screen readers are told). */
export function pointCount(data: ChartData): number {
  return data.series.reduce((n, s) => n + s.data.filter((v) => v !== null).length, 0)
}
