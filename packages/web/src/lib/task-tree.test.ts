import { describe, expect, it } from 'vitest'
import type { Task } from '@strata/contract'
import { applyTaskEvent, failureReasons, fraction, taskTitle } from './task-tree'

const root = (): Task => ({
  id: 'r',
  name: 'backup run',
  status: 'pending',
  start: 1000,
  data: {},
  warnings: [],
  children: [],
})

describe('live task tree', () => {
  it('grows and updates the fetched tree with task events, with speed and ETA', () => {
    const tree = root()
    expect(
      applyTaskEvent(tree, {
        type: 'start',
        id: 'v',
        parentId: 'r',
        name: 'VM',
        time: 1000,
        data: { name: 'web-01' },
      }),
    ).toBe(true)
    applyTaskEvent(tree, {
      type: 'start',
      id: 't',
      parentId: 'v',
      name: 'transfer',
      time: 1000,
      data: { disk: 0 },
    })
    applyTaskEvent(tree, { type: 'progress', id: 't', time: 3000, done: 200, total: 1000 })
    const transfer = tree.children[0]!.children[0]!
    expect(transfer.speed).toBe(100)
    expect(transfer.eta).toBe(8000)
    expect(fraction(transfer)).toBe(0.2)
    applyTaskEvent(tree, { type: 'warning', id: 'v', time: 3500, message: 'fell back to a full backup' })
    applyTaskEvent(tree, { type: 'set', id: 't', time: 3600, data: { nbd: true } })
    applyTaskEvent(tree, {
      type: 'end',
      id: 't',
      time: 5000,
      status: 'failure',
      error: { code: 'VDI_IO_ERROR', message: 'cut' },
    })
    applyTaskEvent(tree, {
      type: 'end',
      id: 'v',
      time: 5000,
      status: 'failure',
      error: { code: 'VDI_IO_ERROR', message: 'cut' },
    })
    expect(transfer).toMatchObject({
      status: 'failure',
      end: 5000,
      eta: undefined,
      data: { disk: 0, nbd: true },
    })
    expect(tree.children[0]!.warnings.map((w) => w.message)).toEqual(['fell back to a full backup'])
    expect(failureReasons(tree)).toEqual([{ task: 'transfer disk 0', code: 'VDI_IO_ERROR', message: 'cut' }])
    expect(taskTitle(tree.children[0]!)).toBe('VM web-01')
  })

  it('reports events of tasks it does not know, so that the view refetches', () => {
    const tree = root()
    expect(applyTaskEvent(tree, { type: 'start', id: 'x', parentId: 'missing', name: 'VM', time: 1 })).toBe(
      false,
    )
    expect(applyTaskEvent(tree, { type: 'end', id: 'x', time: 2, status: 'success' })).toBe(false)
  })
})
