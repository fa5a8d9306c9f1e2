// A run's task events in the shared store (PostgreSQL): written in batches, in order, a task's progress
// coalesced to its latest, bounded per run; the tree another instance rebuilds from them ends the tasks a
// dead instance left pending as its run's row says.
import { randomBytes } from 'node:crypto'
import type { TaskEvent } from '@strata/core/engine'
import { postgresDatabase, usePostgres } from '@strata/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../db/database.js'
import { PgDb } from '../db/pg-db.js'
import { ServerLog } from '../server-log.js'
import { RunEventLog } from './run-event-log.js'
import { RunStore } from './run-store.js'
import { runTree } from './run-tree.js'

let db: PgDb
beforeAll(async () => {
  db = new PgDb({ url: await postgresDatabase(usePostgres(), `t_${randomBytes(6).toString('hex')}`) })
  await migrate(db)
}, 60_000)
afterAll(() => db?.close())

const t0 = 1_700_000_000_000
const start = (id: string, parentId?: string): TaskEvent => ({
  type: 'start',
  id,
  time: t0,
  name: `task ${id}`,
  ...(parentId === undefined ? {} : { parentId }),
})
const progress = (id: string, done: number): TaskEvent => ({ type: 'progress', id, time: t0 + done, done })
const info = (id: string, n: number): TaskEvent => ({ type: 'info', id, time: t0 + n, message: `m${n}` })
const end = (id: string): TaskEvent => ({ type: 'end', id, time: t0 + 5000, status: 'success' })

function logged(): { log: ServerLog; lines: string[] } {
  const lines: string[] = []
  return { log: new ServerLog((line) => void lines.push(line)), lines }
}

describe('a run’s events in the shared store', () => {
  it('stores them in batches and in order, with each task’s progress coalesced to its latest', async () => {
    const events = new RunEventLog(db, logged().log, { flushMs: 20 })
    events.append('r1', start('0'))
    events.append('r1', start('1', '0'))
    for (let done = 1; done <= 300; done++) events.append('r1', progress('1', done))
    await new Promise((r) => setTimeout(r, 100)) // one batch written by its timer, not by the end
    events.append('r1', info('1', 301))
    events.append('r1', end('1'))
    events.append('r1', end('0'))
    await events.settled()
    expect(await events.read('r1')).toEqual([
      start('0'),
      start('1', '0'),
      progress('1', 300),
      info('1', 301),
      end('1'),
      end('0'),
    ])
    const rows = await db.all<{ seq: number }>('SELECT seq FROM run_events WHERE run_id = ? ORDER BY seq', [
      'r1',
    ])
    expect(rows.map((r) => r.seq)).toEqual([0, 1])
    expect(await events.read('r-none')).toBeUndefined()
  })

  it('keeps at most maxEvents per run, then only task ends, and says how many it dropped', async () => {
    const { log, lines } = logged()
    const events = new RunEventLog(db, log, { maxEvents: 10 })
    events.append('r2', start('0'))
    events.append('r2', start('1', '0'))
    for (let n = 0; n < 50; n++) events.append('r2', info('1', n))
    events.append('r2', end('1'))
    events.append('r2', end('0'))
    await events.settled()
    const stored = (await events.read('r2'))!
    expect(stored).toHaveLength(12)
    expect(stored.slice(-2)).toEqual([end('1'), end('0')])
    expect(lines.join('\n')).toContain('r2: 42 events past 10 were not stored')
  })

  it('rebuilds the tree of a run whose instance died: its pending tasks end as its row does', async () => {
    const events = new RunEventLog(db, logged().log)
    events.append('r3', start('0'))
    events.append('r3', start('1', '0'))
    events.append('r3', progress('1', 40))
    await events.settled()
    const runs = new RunStore(db)
    const row = { runId: 'r3', jobId: 'j', jobName: 'Nightly', kind: 'backup' as const, warnings: 0 }
    await runs.insert({ ...row, status: 'pending', start: t0 })
    const error = { code: 'SERVER_STOPPED', message: "server instance 'a' stopped during the run" }
    const sources = { runsDir: '/nonexistent', runs, events }
    const live = await runTree(sources, (await runs.get('r3'))!)
    expect([live.status, live.children[0]!.status]).toEqual(['pending', 'pending'])
    await runs.end('r3', 'interrupted', t0 + 9000, error)
    const tree = await runTree(sources, (await runs.get('r3'))!)
    expect(tree.status).toBe('interrupted')
    expect(tree.error).toEqual(error)
    expect(tree.children[0]).toMatchObject({ status: 'interrupted', end: t0 + 9000, progress: { done: 40 } })
  })
})
