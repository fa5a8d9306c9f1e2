import { describe, expect, it } from 'vitest'
import { lastMaintenance, withRatios } from './usage-history.js'

const MiB = 1024 * 1024

describe('usage history', () => {
  it('gives each sample its dedup and compression ratios from the chunk size', () => {
    const sample = { time: 1, storedBytes: 5 * MiB, logicalBytes: 40 * MiB, chunks: 10, points: 4 }
    expect(withRatios([sample], MiB)).toEqual([
      { ...sample, uniqueBytes: 10 * MiB, dedupRatio: 4, compressionRatio: 2 },
    ])
  })

  it('has no ratio where a side is 0 or the chunk size unknown', () => {
    const empty = { time: 1, storedBytes: 0, logicalBytes: 0, chunks: 0, points: 0 }
    expect(withRatios([empty], MiB)[0]).toMatchObject({
      uniqueBytes: 0,
      dedupRatio: null,
      compressionRatio: null,
    })
    const sample = { time: 1, storedBytes: 5, logicalBytes: 40, chunks: 10, points: 4 }
    expect(withRatios([sample], null)[0]).toMatchObject({
      uniqueBytes: null,
      dedupRatio: null,
      compressionRatio: null,
    })
  })

  it("takes each task's newest run from the repository's maintenance runs", () => {
    const runs = [
      {
        runId: 'r4',
        jobName: 'verify of main',
        status: 'failure' as const,
        start: 40,
        end: 41,
        error: { code: 'CHUNK_CORRUPT', message: 'chunk ab12 is corrupt' },
      },
      { runId: 'r3', jobName: 'gc of main', status: 'success' as const, start: 30, end: 31 },
      { runId: 'r1', jobName: 'gc of main', status: 'failure' as const, start: 10, end: 11 },
    ]
    expect(lastMaintenance(runs)).toEqual({
      gc: { runId: 'r3', status: 'success', start: 30, end: 31 },
      check: null,
      verify: {
        runId: 'r4',
        status: 'failure',
        start: 40,
        end: 41,
        error: { code: 'CHUNK_CORRUPT', message: 'chunk ab12 is corrupt' },
      },
    })
  })
})
