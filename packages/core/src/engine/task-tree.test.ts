import { describe, expect, it } from 'vitest'
import { AbortedError, StrataError } from '../shared/index.js'
import { RunTimeoutError, TaskSkipped, runRootTask, type TaskEvent } from './task-tree.js'
import { TaskView, walkTasks } from './task-view.js'

function clock() {
  let t = 1000
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('task tree', () => {
  it('emits a tree that a view rebuilds with statuses, warnings, facts, speed and ETA', async () => {
    const events: TaskEvent[] = []
    const c = clock()
    const options = {
      emit: (e: TaskEvent) => events.push(e),
      signal: new AbortController().signal,
      now: c.now,
    }
    await runRootTask(
      options,
      'backup run',
      async (run) => {
        run.info('vms', { vms: ['a'] })
        await run.child(
          'VM',
          async (vm) => {
            await vm.child('transfer', async (t) => {
              c.advance(1000)
              t.progress({ done: 100, total: 400 })
              c.advance(100) // throttled: not emitted
              t.progress({ done: 150, total: 400 })
              c.advance(1000)
              t.progress({ done: 400, total: 400 })
              t.set({ size: 400 })
            })
            vm.warn('fell back to a full backup', { reason: 'no base' })
          },
          { uuid: 'a' },
        )
        await run.child('VM', () => Promise.reject(new TaskSkipped('nothing'))).catch(() => undefined)
        await run.child('VM', () => Promise.reject(new StrataError('BOOM', 'boom'))).catch(() => undefined)
      },
      { runId: 'r1' },
    )
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { done: number }).done)).toEqual([
      100, 400,
    ])
    const view = new TaskView()
    events.forEach((e) => view.apply(e))
    const [root] = view.roots
    expect(root).toMatchObject({ name: 'backup run', status: 'success', data: { runId: 'r1' } })
    expect(root!.infos[0]).toMatchObject({ message: 'vms', data: { vms: ['a'] } })
    expect(root!.children.map((c) => c.status)).toEqual(['success', 'skipped', 'failure'])
    expect(root!.children[2]!.error).toEqual({ code: 'BOOM', message: 'boom' })
    const vm = root!.children[0]!
    expect(vm.warnings[0]!.message).toBe('fell back to a full backup')
    const transfer = vm.children[0]!
    expect(transfer).toMatchObject({ name: 'transfer', data: { size: 400 }, durationMs: 2100 })
    expect(transfer.speed).toBeCloseTo(400 / 2.1)
    expect([...walkTasks(view.roots)]).toHaveLength(5)
  })

  it('reports ETA while running, interrupted on abort and failure on a run timeout', async () => {
    const view = new TaskView()
    const c = clock()
    const controller = new AbortController()
    const options = { emit: (e: TaskEvent) => view.apply(e), signal: controller.signal, now: c.now }
    let eta: number | undefined
    await runRootTask(options, 'run', async (run) => {
      await run.child('transfer', async (t) => {
        c.advance(2000)
        t.progress({ done: 100, total: 300 })
        eta = view.get('1')!.etaMs
      })
      await run.child('a', () => Promise.reject(new AbortedError('stop'))).catch(() => undefined)
      await run
        .child('b', () => Promise.reject(new AbortedError(new RunTimeoutError(60_000))))
        .catch(() => undefined)
    })
    expect(eta).toBe(4000)
    const [, a, b] = view.roots[0]!.children
    expect(a!.status).toBe('interrupted')
    expect(b!.status).toBe('failure')
    expect(b!.error).toEqual({ code: 'RUN_TIMEOUT', message: 'the run exceeded its timeout of 60 s' })
  })
})
