// The scheduler under a fake clock: fires on time in the schedule's zone across both DST changes,
// never runs a job twice at once, and applies the missed-run rule at start-up.
import { SETTINGS_DEFAULTS } from '@strata/contract'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { migrate, openSqlite } from '../db/database.js'
import type { SqliteDb } from '../db/sqlite-db.js'
import type { ApiJob } from '../jobs/job-model.js'
import { ServerLog } from '../server-log.js'
import { Scheduler } from './scheduler.js'

const job = (cron: string, timezone: string): ApiJob => ({
  id: 'j1',
  name: 'job',
  enabled: true,
  kind: 'backup',
  vms: { uuids: ['x'] },
  repositories: ['r'],
  targets: [],
  settings: SETTINGS_DEFAULTS,
  schedules: [{ id: 's1', cron, timezone, enabled: true, forceFull: false }],
  report: 'default',
})

describe('scheduler', () => {
  let db: SqliteDb
  let fired: string[]
  let busy: boolean
  let log: ServerLog
  let lines: string[]

  const scheduler = (jobs: ApiJob[]) =>
    new Scheduler({
      db,
      jobs: { list: () => Promise.resolve(jobs) },
      log,
      start: () => {
        if (busy) throw new Error('job is running already')
        fired.push(new Date().toISOString())
      },
    })

  beforeEach(async () => {
    vi.useFakeTimers()
    db = openSqlite(':memory:')
    await migrate(db)
    fired = []
    busy = false
    lines = []
    log = new ServerLog((line) => lines.push(line))
  })
  afterEach(async () => {
    vi.useRealTimers()
    await db.close()
  })

  it('fires at 01:30 Paris time on both sides of the spring and autumn DST changes', async () => {
    vi.setSystemTime(new Date('2026-03-28T12:00:00Z'))
    const s = scheduler([job('30 1 * * *', 'Europe/Paris')])
    await s.start()
    await vi.advanceTimersByTimeAsync(2 * 86400_000)
    // 01:30 CET is 00:30 UTC; after the change on 29 March, 01:30 CEST is 23:30 UTC the day before.
    expect(fired).toEqual(['2026-03-29T00:30:00.000Z', '2026-03-29T23:30:00.000Z'])
    fired = []
    vi.setSystemTime(new Date('2026-10-24T12:00:00Z'))
    await s.reload()
    await vi.advanceTimersByTimeAsync(2 * 86400_000)
    expect(fired).toEqual(['2026-10-24T23:30:00.000Z', '2026-10-26T00:30:00.000Z'])
    s.stop()
  })

  it('skips a due schedule while its job runs, with a warning, and fires the next one', async () => {
    vi.setSystemTime(new Date('2026-05-01T00:00:30Z'))
    const s = scheduler([job('* * * * *', 'UTC')])
    await s.start()
    busy = true
    await vi.advanceTimersByTimeAsync(60_000)
    expect(fired).toEqual([])
    expect(lines.some((l) => l.includes('skipped: job is running already'))).toBe(true)
    busy = false
    await vi.advanceTimersByTimeAsync(60_000)
    expect(fired).toEqual(['2026-05-01T00:02:00.000Z'])
    s.stop()
  })

  it('runs a schedule missed within 24 hours once at start-up, and not one missed earlier', async () => {
    vi.setSystemTime(new Date('2026-05-01T00:00:00Z'))
    const jobs = [job('0 * * * *', 'UTC')]
    await scheduler(jobs).start() // first start: remembers now, no catch-up
    expect(fired).toEqual([])
    // Down for 5 hours: five runs missed, one made up at start-up.
    vi.setSystemTime(new Date('2026-05-01T05:10:00Z'))
    const again = scheduler(jobs)
    await again.start()
    expect(fired).toEqual(['2026-05-01T05:10:00.000Z'])
    again.stop()
    // Down for two days after that: nothing made up.
    vi.setSystemTime(new Date('2026-05-03T06:10:00Z'))
    const late = scheduler(jobs)
    await late.start()
    expect(fired).toHaveLength(1)
    expect(late.nextRuns()).toEqual([
      { jobId: 'j1', jobName: 'job', scheduleId: 's1', at: Date.parse('2026-05-03T07:00:00Z') },
    ])
    late.stop()
  })

  describe('in a cluster', () => {
    /** The cluster's tick table, as a coordinator keeps it: each (job, schedule, due time) claimed once. */
    let claimed: Map<string, number[]>
    let leader: boolean
    const gate = {
      isLeader: () => leader,
      claimTick: (jobId: string, scheduleId: string, dueAt: number) => {
        const ticks = claimed.get(`${jobId}/${scheduleId}`) ?? []
        claimed.set(`${jobId}/${scheduleId}`, ticks)
        if (ticks.includes(dueAt)) return Promise.resolve(false)
        ticks.push(dueAt)
        return Promise.resolve(true)
      },
      lastTick: (jobId: string, scheduleId: string) =>
        Promise.resolve(claimed.get(`${jobId}/${scheduleId}`)?.at(-1)),
    }
    const member = (jobs: ApiJob[]) =>
      new Scheduler({
        db,
        jobs: { list: () => Promise.resolve(jobs) },
        log,
        gate,
        start: () => void fired.push(new Date().toISOString()),
      })

    beforeEach(() => {
      claimed = new Map()
      leader = true
    })

    it('fires only as the leader, and only the ticks it claims', async () => {
      vi.setSystemTime(new Date('2026-05-01T00:00:30Z'))
      const s = member([job('* * * * *', 'UTC')])
      await s.start()
      await vi.advanceTimersByTimeAsync(60_000)
      expect(fired).toEqual(['2026-05-01T00:01:00.000Z'])
      leader = false
      await vi.advanceTimersByTimeAsync(60_000)
      expect(fired).toHaveLength(1)
      // Another instance claimed the 00:03 tick (it led a moment longer): not fired here.
      leader = true
      claimed.get('j1/s1')!.push(Date.parse('2026-05-01T00:03:00Z'))
      await vi.advanceTimersByTimeAsync(60_000)
      expect(fired).toHaveLength(1)
      await vi.advanceTimersByTimeAsync(60_000)
      expect(fired).toEqual(['2026-05-01T00:01:00.000Z', '2026-05-01T00:04:00.000Z'])
      expect(s.nextRuns()[0]!.at).toBe(Date.parse('2026-05-01T00:05:00Z'))
      s.stop()
    })

    it('fires, on becoming the leader, the latest tick no leader fired, once', async () => {
      vi.setSystemTime(new Date('2026-05-01T00:00:00Z'))
      leader = false
      const jobs = [job('0 * * * *', 'UTC')]
      const s = member(jobs)
      await s.start()
      // The old leader fired 01:00, then died; 02:00 and 03:00 passed with no leader.
      claimed.set('j1/s1', [Date.parse('2026-05-01T01:00:00Z')])
      vi.setSystemTime(new Date('2026-05-01T03:10:00Z'))
      leader = true
      await s.takeOver()
      await s.takeOver() // told twice (a flapping connection): still once
      await vi.advanceTimersByTimeAsync(0)
      expect(fired).toEqual(['2026-05-01T03:10:00.000Z'])
      expect(claimed.get('j1/s1')).toEqual([
        Date.parse('2026-05-01T01:00:00Z'),
        Date.parse('2026-05-01T03:00:00Z'),
      ])
      s.stop()
    })

    it('does not fire, on becoming the leader, a tick the old leader fired or a schedule new since', async () => {
      vi.setSystemTime(new Date('2026-05-01T03:10:00Z'))
      leader = false
      claimed.set('j1/s1', [Date.parse('2026-05-01T03:00:00Z')])
      const s = member([job('0 * * * *', 'UTC'), { ...job('0 * * * *', 'UTC'), id: 'j2' }])
      await s.start()
      leader = true
      await s.takeOver()
      await vi.advanceTimersByTimeAsync(0)
      expect(fired).toEqual([])
      s.stop()
    })
  })
})
