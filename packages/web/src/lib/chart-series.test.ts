import { describe, expect, it } from 'vitest'
import type { RunStat } from '@strata/contract'
import {
  dayKey,
  outcomesPerDay,
  perJobRuns,
  pointCount,
  usageHistoryCharts,
  usageOverTime,
} from './chart-series'

const DAY = 86_400_000
const now = new Date(2026, 11, 7, 12, 0).getTime()
const run = (jobId: string, status: RunStat['status'], end: number, durationMs = 1000): RunStat => ({
  runId: `${jobId}-${end}`,
  jobId,
  jobName: jobId.toUpperCase(),
  status,
  start: end - durationMs,
  end,
  durationMs,
})

describe('chart series', () => {
  it('counts successes and failures per local day, interrupted runs as failures, older runs left out', () => {
    const runs = [
      run('a', 'success', now),
      run('a', 'failure', now - 1000),
      run('b', 'interrupted', now - DAY),
      run('b', 'success', now - 10 * DAY),
      run('b', 'pending', now),
    ]
    const data = outcomesPerDay(runs, 3, now)
    expect(data.labels).toEqual(['2026-12-05', '2026-12-06', '2026-12-07'])
    expect(data.series).toEqual([
      { label: 'Succeeded', data: [0, 0, 1] },
      { label: 'Failed', data: [0, 1, 1] },
    ])
    expect(pointCount(data)).toBe(6)
    expect(dayKey(new Date(2026, 0, 2, 23, 59).getTime())).toBe('2026-01-02')
  })

  it('puts each job on its own series over the runs in time order, with gaps for the other jobs', () => {
    const data = perJobRuns(
      [run('b', 'success', 3000, 30), run('a', 'success', 1000, 10), run('a', 'failure', 2000, 20)],
      (r) => r.durationMs,
      (ms) => `t${ms}`,
    )
    expect(data.labels).toEqual(['t1000', 't2000', 't3000'])
    expect(data.series).toEqual([
      { label: 'A', data: [10, 20, null] },
      { label: 'B', data: [null, null, 30] },
    ])
    expect(pointCount(data)).toBe(3)
    const bytes = perJobRuns([run('a', 'success', 1)], (r) => r.bytesRead, String)
    expect(bytes.series[0]!.data).toEqual([null])
  })

  it('draws stored against logical bytes of a repository', () => {
    const data = usageOverTime(
      {
        repositoryId: 'r',
        name: 'local',
        samples: [
          { time: 1, storedBytes: 10, logicalBytes: 40, chunks: 1, points: 1 },
          { time: 2, storedBytes: 12, logicalBytes: 80, chunks: 2, points: 2 },
        ],
      },
      String,
    )
    expect(data).toEqual({
      labels: ['1', '2'],
      series: [
        { label: 'Stored', data: [10, 12] },
        { label: 'Logical', data: [40, 80] },
      ],
    })
  })
})

describe("a repository's usage history", () => {
  const sample = (time: number, stored: number, dedup: number | null, points: number) => ({
    time,
    storedBytes: stored,
    logicalBytes: stored * 4,
    uniqueBytes: stored * 2,
    chunks: 2,
    points,
    dedupRatio: dedup,
    compressionRatio: dedup === null ? null : 2,
  })
  const history = {
    repositoryId: 'r',
    name: 'main',
    chunkSize: 1,
    samples: [sample(1, 10, null, 0), sample(2, 20, 2, 3)],
    maintenance: { gc: null, check: null, verify: null },
  }

  it('draws bytes, ratios and points, a ratio without value as a gap', () => {
    const charts = usageHistoryCharts(history, (ms) => `t${ms}`)
    expect(charts.bytes).toEqual({
      labels: ['t1', 't2'],
      series: [
        { label: 'Stored', data: [10, 20] },
        { label: 'Logical', data: [40, 80] },
      ],
    })
    expect(charts.ratios.series).toEqual([
      { label: 'Deduplication', data: [null, 2] },
      { label: 'Compression', data: [null, 2] },
    ])
    expect(charts.points.series).toEqual([{ label: 'Restore points', data: [0, 3] }])
    expect(pointCount(charts.ratios)).toBe(2)
  })
})
