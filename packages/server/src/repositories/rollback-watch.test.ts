import { describe, expect, it } from 'vitest'
import type { TaskNode } from '@strata/core/engine'
import { migrate, openSqlite } from '../db/database.js'
import { ServerLog } from '../server-log.js'
import { RollbackStore } from './rollback-store.js'
import { RollbackWatch, removedByRun, type ListedPoint } from './rollback-watch.js'

async function watch(): Promise<RollbackWatch> {
  const db = openSqlite(':memory:')
  await migrate(db)
  return new RollbackWatch(new RollbackStore(db), new ServerLog(() => undefined), () => 1000)
}

const point = (n: number): ListedPoint => ({ id: `p${n}`, vmUuid: 'vm-1', time: n * 1000 })

function node(data: Record<string, unknown>, children: TaskNode[] = []): TaskNode {
  return { id: '1', name: 't', status: 'success', data, start: 0, warnings: [], infos: [], children }
}

describe('rollback watch', () => {
  it("excuses what a backup run's retention removed, and judges the rest once the run ends", async () => {
    const w = await watch()
    await w.observe('r', [point(1), point(2), point(3), point(4)])
    w.running('r', 'run-1', true)
    // During the run, p1 (its retention) and p2 (an attacker) vanish, p5 comes: nothing judged yet.
    await w.observe('r', [point(3), point(4), point(5)])
    expect(await w.warning('r')).toBeUndefined()
    const tree = node({}, [node({ name: 'vm' }, [node({ kept: 2, removed: ['p1'], protected: [] })])])
    expect(removedByRun(tree)).toEqual(['p1'])
    w.excuse('r', removedByRun(tree))
    w.running('r', 'run-1', false)
    await w.observe('r', [point(3), point(4), point(5)])
    expect((await w.warning('r'))?.vanished.map((p) => p.pointId)).toEqual(['p2'])
    expect((await w.warning('r'))?.message).toMatch(
      /^possible rollback .*1 restore points vanished .*vm-1\/p2/,
    )
  })

  it('keeps the newest recorded point: a listing whose newest is older warns, even with nothing named', async () => {
    const w = await watch()
    await w.observe('r', [point(1), point(2)])
    await w.observe('r', [point(1)])
    expect((await w.warning('r'))?.newestRecorded).toMatchObject({ pointId: 'p2' })
    await w.acknowledge('r', 'admin')
    expect(await w.warning('r')).toBeUndefined()
    await w.observe('r', [point(1)])
    expect(await w.warning('r')).toBeUndefined()
  })

  it("takes the server's own delete of its newest point as expected", async () => {
    const w = await watch()
    await w.observe('r', [point(1), point(2)])
    w.excuse('r', ['p2'])
    await w.observe('r', [point(1)])
    expect(await w.warning('r')).toBeUndefined()
    await w.observe('r', [point(1), point(3)])
    await w.observe('r', [point(1), point(3)])
    expect(await w.warning('r')).toBeUndefined()
  })
})
