import { describe, expect, it } from 'vitest'
import { formatRunReport } from './run-report.js'
import type { TaskEvent } from './task-tree.js'
import { TaskView } from './task-view.js'

const MiB = 1024 * 1024
const T0 = Date.UTC(2026, 11, 7, 2, 0, 0)

function tree(events: TaskEvent[]) {
  const view = new TaskView()
  events.forEach((e) => view.apply({ ...e, time: T0 + e.time }))
  return view.roots[0]!
}

describe('run reports', () => {
  it('writes a backup run as text: what ran, how it ended and why, then every task', () => {
    const root = tree([
      {
        type: 'start',
        id: '0',
        name: 'backup run',
        time: 0,
        data: {
          runId: 'r1',
          jobId: 'nightly',
          jobName: 'Nightly',
          scheduleId: 'daily',
          pools: ['Lab pool'],
          repositories: ['local'],
        },
      },
      {
        type: 'start',
        id: '1',
        parentId: '0',
        name: 'connect pool',
        data: { pool: 'p', name: 'Far' },
        time: 0,
      },
      {
        type: 'end',
        id: '1',
        status: 'failure',
        error: { code: 'XAPI_CONNECTION', message: 'refused' },
        time: 5,
      },
      { type: 'start', id: '2', parentId: '0', name: 'VM', data: { uuid: 'u', name: 'web-01' }, time: 10 },
      { type: 'warning', id: '2', message: 'CBT unavailable', time: 20 },
      {
        type: 'set',
        id: '2',
        data: {
          full: false,
          bytesRead: 8 * MiB,
          bytesStored: MiB,
          points: [{ target: 'local', pointId: 'pt-1' }],
        },
        time: 1000,
      },
      { type: 'end', id: '2', status: 'success', time: 1010 },
      {
        type: 'end',
        id: '0',
        status: 'failure',
        error: { code: 'POOL_UNREACHABLE', message: "pool 'Far': refused" },
        time: 2000,
      },
    ])
    expect(formatRunReport(root)).toBe(
      [
        'Strata backup run r1',
        'Job:          Nightly (nightly)',
        'Schedule:     daily',
        'Pools:        Lab pool',
        'Repositories: local',
        "Status:       failure (POOL_UNREACHABLE: pool 'Far': refused)",
        'Started:      2026-12-07 02:00:00 UTC',
        'Ended:        2026-12-07 02:00:02 UTC, after 2.0 s',
        '',
        'backup run Nightly: failure in 2.0 s',
        '  connect pool Far: failure in 5 ms',
        '    error: XAPI_CONNECTION: refused',
        '  VM web-01: success in 1.0 s, delta, read 8.0 MiB, stored 1.0 MiB, point pt-1',
        '    warning: CBT unavailable',
        '',
      ].join('\n'),
    )
  })

  it('names a restore after its VM and shows the disk rate apart from the zeros skipped', () => {
    const root = tree([
      {
        type: 'start',
        id: '0',
        name: 'restore',
        data: { runId: 'r2', point: 'u/pt-1', repository: 'local' },
        time: 0,
      },
      { type: 'start', id: '1', parentId: '0', name: 'transfer', data: { disk: 0, size: 32 * MiB }, time: 0 },
      { type: 'progress', id: '1', done: 32 * MiB, total: 32 * MiB, time: 1000 },
      { type: 'set', id: '1', data: { dataBytes: MiB / 2, zeroBytes: 31.5 * MiB }, time: 1000 },
      { type: 'end', id: '1', status: 'success', time: 1000 },
      {
        type: 'set',
        id: '0',
        data: { vmUuid: 'v', vmName: 'web-01 (restored 2026-12-07 02:00)' },
        time: 1000,
      },
      { type: 'end', id: '0', status: 'success', time: 1000 },
    ])
    const text = formatRunReport(root)
    expect(text).toContain('VM:           web-01 (restored 2026-12-07 02:00)\n')
    expect(text).toContain('restore web-01 (restored 2026-12-07 02:00): success in 1.0 s\n')
    expect(text).toContain(
      'transfer disk 0: success in 1.0 s, size 32.0 MiB, 32.0 MiB at 32.0 MiB/s, 512.0 KiB of data, 31.5 MiB of zeros skipped',
    )
  })
  it('shows what a differential restore compared, how, and what it rewrote', () => {
    const root = tree([
      { type: 'start', id: '0', name: 'restore', time: 0, data: { point: 'vm/p1' } },
      {
        type: 'set',
        id: '0',
        time: 900,
        data: { path: 'compare', comparedBytes: 512 * MiB, readBytes: 512 * MiB, rewrittenBytes: 12 * MiB },
      },
      { type: 'end', id: '0', status: 'success', time: 1000 },
    ])
    expect(formatRunReport(root)).toContain(
      'restore vm/p1: success in 1.0 s, compared 512.0 MiB (compare), rewrote 12.0 MiB',
    )
  })

  it('names a mirror run, its source and targets, and counts what each target got', () => {
    const root = tree([
      {
        type: 'start',
        id: '0',
        name: 'mirror run',
        time: 0,
        data: {
          runId: 'r3',
          jobId: 'offsite',
          jobName: 'Offsite copy',
          kind: 'mirror',
          scheduleId: 'nightly',
          repositories: ['local'],
          mirrorTo: ['nas', 'vault'],
        },
      },
      {
        type: 'start',
        id: '1',
        parentId: '0',
        name: 'mirror',
        data: { repository: 'local', target: 'nas' },
        time: 0,
      },
      {
        type: 'set',
        id: '1',
        data: {
          copiedPoints: 2,
          alreadyThere: 1,
          removedPoints: 1,
          copiedChunks: 12,
          skippedChunks: 30,
          copiedBytes: 6 * MiB,
        },
        time: 2000,
      },
      { type: 'end', id: '1', status: 'success', time: 2000 },
      { type: 'end', id: '0', status: 'success', time: 2000 },
    ])
    const text = formatRunReport(root)
    expect(text.split('\n').slice(0, 4)).toEqual([
      'Strata mirror run r3',
      'Job:          Offsite copy (offsite)',
      'Schedule:     nightly',
      'From:         local',
    ])
    expect(text).toContain('To:           nas, vault\n')
    expect(text).toContain(
      'mirror nas: success in 2.0 s, 2 points copied, 1 already there, 1 removed, 12 chunks copied (6.0 MiB), 30 skipped',
    )
  })
})
