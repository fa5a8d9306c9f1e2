import { describe, expect, it } from 'vitest'
import { openRunLog } from '@strata/core/engine'
import { scratchDir } from '@strata/core/testing'
import { join } from 'node:path'
import { runCli } from '../testing/cli-harness.js'
import { parseSince } from './backup-logs.js'

const DAY = Date.UTC(2026, 11, 7)

async function writeRun(
  dir: string,
  runId: string,
  jobId: string,
  status: 'success' | 'failure',
  at: number,
) {
  const log = await openRunLog(join(dir, 'runs'), runId)
  const data = {
    runId,
    jobId,
    jobName: jobId,
    scheduleId: 'daily',
    pools: ['Lab pool'],
    repositories: ['local'],
  }
  log.append({ type: 'start', id: '0', name: 'backup run', data, time: at })
  log.append({
    type: 'start',
    id: '1',
    parentId: '0',
    name: 'VM',
    data: { uuid: 'u1', name: 'web-01' },
    time: at,
  })
  const points = [{ target: 'local', pointId: `point-${runId}` }]
  log.append({ type: 'set', id: '1', data: { full: true, bytesRead: 1024, points }, time: at + 500 })
  const error = status === 'failure' ? { code: 'SR_FULL', message: 'the SR is full' } : undefined
  log.append({ type: 'end', id: '1', status, error, time: at + 1000 })
  const runError = status === 'failure' ? { code: 'VMS_FAILED', message: '1 of 1 VMs failed' } : undefined
  log.append({ type: 'end', id: '0', status, error: runError, time: at + 2000 })
  log.close()
}

describe('strata backup logs', () => {
  it('filters runs by job, state and start, and prints one run as a plain-text report', async () => {
    await using dir = await scratchDir()
    await writeRun(dir.dir, 'r1', 'nightly', 'success', DAY - 86_400_000)
    await writeRun(dir.dir, 'r2', 'nightly', 'failure', DAY + 3_600_000)
    await writeRun(dir.dir, 'r3', 'weekly', 'failure', DAY + 7_200_000)
    const list = async (...filters: string[]) => {
      const { code, out } = await runCli(['backup', 'logs', '--data-dir', dir.dir, '--json', ...filters])
      expect(code).toBe(0)
      return (JSON.parse(out) as { runs: { runId: string }[] }).runs.map((r) => r.runId)
    }
    expect(await list()).toEqual(['r3', 'r2', 'r1'])
    expect(await list('--job', 'nightly')).toEqual(['r2', 'r1'])
    expect(await list('--state', 'failure')).toEqual(['r3', 'r2'])
    expect(await list('--job', 'nightly', '--state', 'failure', '--since', '2026-12-07')).toEqual(['r2'])
    expect(await list('--since', '2026-12-07T00:30')).toEqual(['r3', 'r2'])

    const human = await runCli(['backup', 'logs', '--data-dir', dir.dir, '--job', 'nightly'])
    expect(human.out).toMatch(
      /^r2 {2}2026-12-07 01:00:00 {2}nightly {2}failure in 2\.0 s {2}VMs: 1 failure \(web-01\), 1 point$/m,
    )

    const report = await runCli(['backup', 'logs', 'r2', '--text', '--data-dir', dir.dir])
    expect(report.code).toBe(0)
    expect(report.out).toContain('Strata backup run r2\nJob:          nightly\nSchedule:     daily\n')
    expect(report.out).toContain('Pools:        Lab pool\nRepositories: local\n')
    expect(report.out).toContain('Status:       failure (VMS_FAILED: 1 of 1 VMs failed)\n')
    expect(report.out).toContain(
      '  VM web-01: failure in 1.0 s, full, read 1.0 KiB, point point-r2\n    error: SR_FULL: the SR is full\n',
    )
    expect(report.out).not.toMatch(/[└├│✗]/)

    const bad = await runCli(['backup', 'logs', '--data-dir', dir.dir, '--state', 'red'])
    expect([bad.code, bad.err.trim()]).toEqual([
      2,
      "strata: --state is one of pending, success, failure, interrupted, skipped, not 'red'",
    ])
  })

  it('reads --since as a UTC date, a date and time, or an age', () => {
    expect(parseSince('2026-12-07')).toBe(DAY)
    expect(parseSince('2026-12-07 02:30')).toBe(DAY + 2.5 * 3_600_000)
    expect(parseSince('2026-12-07T02:30+01:00')).toBe(DAY + 1.5 * 3_600_000)
    expect(parseSince('24h', DAY)).toBe(DAY - 86_400_000)
    expect(parseSince('7d', DAY)).toBe(DAY - 7 * 86_400_000)
    expect(() => parseSince('yesterday')).toThrow(/neither a date/)
  })
})
