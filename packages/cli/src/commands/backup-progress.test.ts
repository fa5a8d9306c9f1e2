import { afterEach, describe, expect, it, vi } from 'vitest'
import type { TaskEvent } from '@strata/core/engine'
import { formatTree, progressRenderer } from './backup-progress.js'

const MiB = 1024 * 1024

function stream(isTTY: boolean) {
  const out = { text: '', isTTY, write: (s: string) => ((out.text += s), true) }
  return out
}

const events: TaskEvent[] = [
  { type: 'start', id: '0', name: 'backup run', data: { jobName: 'nightly' }, time: 0 },
  { type: 'start', id: '1', parentId: '0', name: 'VM', data: { name: 'web-01' }, time: 10 },
  { type: 'start', id: '2', parentId: '1', name: 'transfer', data: { disk: 0, size: 64 * MiB }, time: 20 },
  { type: 'progress', id: '2', done: 16 * MiB, total: 64 * MiB, time: 2020 },
]
const ends: TaskEvent[] = [
  { type: 'progress', id: '2', done: 64 * MiB, total: 64 * MiB, time: 4020 },
  { type: 'end', id: '2', status: 'success', time: 4020 },
  { type: 'warning', id: '1', message: 'CBT unavailable: VHD BAT used', time: 4030 },
  { type: 'set', id: '1', data: { full: false, bytesRead: 64 * MiB, bytesStored: 3 * MiB }, time: 4040 },
  { type: 'end', id: '1', status: 'success', time: 4050 },
  { type: 'end', id: '0', status: 'failure', error: { code: 'X', message: 'boom' }, time: 4100 },
]

describe('progress rendering', () => {
  afterEach(() => vi.useRealTimers())

  it('prints plain lines when stderr is not a terminal', () => {
    const err = stream(false)
    const r = progressRenderer(err as never)
    ;[...events, ...ends].forEach(r.onEvent)
    r.stop()
    expect(err.text.split('\n')).toEqual([
      'backup run nightly: started',
      '  VM web-01: started',
      '    transfer disk 0: success in 4.0 s, size 64.0 MiB, 64.0 MiB at 16.0 MiB/s',
      '    warning: CBT unavailable: VHD BAT used',
      '  VM web-01: success in 4.0 s, delta, read 64.0 MiB, stored 3.0 MiB',
      'backup run nightly: failure in 4.1 s (X: boom)',
      '',
    ])
    expect(err.text).not.toContain('\x1b[')
  })

  it('draws a bar with speed and ETA for running transfers on a terminal', () => {
    vi.useFakeTimers()
    const err = stream(true)
    const r = progressRenderer(err as never)
    events.forEach(r.onEvent)
    vi.advanceTimersByTime(300)
    r.stop()
    expect(err.text).toContain('transfer disk 0')
    expect(err.text).toContain('[######..................]  25% 8.0 MiB/s ETA 6.0 s')
  })

  it('formats a run as a tree with warnings and errors', () => {
    const r = progressRenderer(stream(false) as never)
    ;[...events, ...ends].forEach(r.onEvent)
    expect(formatTree(r.view.roots[0]!).split('\n')).toEqual([
      'backup run nightly  failure in 4.1 s',
      '   ✗ X: boom',
      '└─ VM web-01  success in 4.0 s, delta, read 64.0 MiB, stored 3.0 MiB',
      '      ! CBT unavailable: VHD BAT used',
      '   └─ transfer disk 0  success in 4.0 s, size 64.0 MiB, 64.0 MiB at 16.0 MiB/s',
    ])
  })
})
