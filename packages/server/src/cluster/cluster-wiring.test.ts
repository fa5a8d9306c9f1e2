// How an instance acts on what its cluster tells it: leadership gained → the scheduler reads the jobs
// and catches up; jobs changed on another instance → the scheduler reads them again; a
// dead instance's run → a new run of its job here (storing only what is missing); a run taken
// by another → stopped here; run events → the other instances and this instance's browsers, and the
// others' events → this instance's browsers only.
import { SETTINGS_DEFAULTS } from '@strata/contract'
import { describe, expect, it, vi } from 'vitest'
import type { ApiJob } from '../jobs/job-model.js'
import { RunBus } from '../runs/run-bus.js'
import type { RunRow } from '../runs/run-store.js'
import { ServerLog } from '../server-log.js'
import { wireCluster } from './cluster-wiring.js'
import type { ClusterEvent, Coordinator, OrphanRun } from './coordinator.js'
import { LocalCoordinator } from './local-coordinator.js'

class FakeCluster extends LocalCoordinator {
  readonly published: ClusterEvent[] = []
  readonly on = { leader: [] as ((l: boolean) => void)[], orphan: [] as ((r: OrphanRun) => void)[] }
  lost: ((runId: string) => void)[] = []
  events: ((e: ClusterEvent) => void)[] = []
  override onLeadership(l: (leader: boolean) => void): () => void {
    this.on.leader.push(l)
    return () => undefined
  }
  override onOrphan(l: (run: OrphanRun) => void): () => void {
    this.on.orphan.push(l)
    return () => undefined
  }
  override onLost(l: (runId: string) => void): () => void {
    this.lost.push(l)
    return () => undefined
  }
  override publish(e: ClusterEvent): void {
    this.published.push(e)
  }
  override subscribe(l: (e: ClusterEvent) => void): () => void {
    this.events.push(l)
    return () => (this.events = this.events.filter((x) => x !== l))
  }
}

const job = (id: string, enabled = true): ApiJob => ({
  id,
  name: `job ${id}`,
  enabled,
  kind: 'backup',
  vms: { uuids: ['x'] },
  repositories: ['r'],
  targets: [],
  settings: SETTINGS_DEFAULTS,
  schedules: [{ id: 's', cron: '0 * * * *', timezone: 'UTC', enabled: true, forceFull: false }],
  report: 'default',
})
const row = (runId: string): RunRow =>
  ({
    runId,
    jobId: 'j1',
    jobName: 'job j1',
    kind: 'backup',
    status: 'pending',
    start: 1,
    warnings: 0,
  }) as RunRow

function setup() {
  const cluster = new FakeCluster()
  const calls: string[] = []
  const lines: string[] = []
  const bus = new RunBus()
  const events = new RunBus()
  const seen: string[] = []
  events.on('run', (r) => seen.push(`run ${r.runId}`))
  events.on('task', (t) => seen.push(`task ${t.runId}`))
  const unwire = wireCluster({
    coordinator: cluster as Coordinator,
    scheduler: {
      takeOver: () => Promise.resolve(void calls.push('takeOver')),
      reload: () => Promise.resolve(void calls.push('reload')),
    },
    runs: {
      startJob: (j, scheduleId) => {
        if (j.id === 'busy') return Promise.reject(new Error('job is running already'))
        calls.push(`start ${j.id} ${scheduleId}`)
        return Promise.resolve('new-run')
      },
      endOrphan: (runId, owner) => Promise.resolve(void calls.push(`end ${runId} of ${owner}`)),
      abortRun: (runId, reason) => {
        calls.push(`abort ${runId}: ${reason.message}`)
        return true
      },
    },
    jobs: { list: () => Promise.resolve([job('j1'), job('off', false), job('busy')]) },
    bus,
    events,
    log: new ServerLog((line) => void lines.push(line)),
  })
  return { cluster, calls, lines, bus, events, seen, unwire }
}

describe('wireCluster', () => {
  it('catches up on leadership and resumes a dead instance’s run of an existing, enabled job', async () => {
    const { cluster, calls, lines } = setup()
    cluster.on.leader.forEach((l) => l(false))
    cluster.on.leader.forEach((l) => l(true))
    for (const jobId of ['j1', 'gone', 'off', 'busy'])
      cluster.on.orphan.forEach((l) => l({ runId: `r-${jobId}`, jobId, scheduleId: 's', owner: 'dead' }))
    await vi.waitFor(() => expect(lines).toHaveLength(4))
    // Every orphan's record ends (it stays pending on a shared store), resumed or not.
    expect(calls.filter((c) => c.startsWith('end ')).sort()).toEqual([
      'end r-busy of dead',
      'end r-gone of dead',
      'end r-j1 of dead',
      'end r-off of dead',
    ])
    expect(calls.filter((c) => !c.startsWith('end ')).sort()).toEqual(['reload', 'start j1 s', 'takeOver'])
    // The jobs are read again before the catch-up, which works from them.
    expect(calls.indexOf('reload')).toBeLessThan(calls.indexOf('takeOver'))
    expect(
      lines.some((l) => /run 'r-j1' of job 'job j1' was interrupted on instance 'dead': resumed/.test(l)),
    ).toBe(true)
    expect(lines.some((l) => /'r-gone'.*gone or disabled/.test(l))).toBe(true)
    expect(lines.some((l) => /'r-off'.*gone or disabled/.test(l))).toBe(true)
    expect(lines.some((l) => /'r-busy'.*cannot resume: job is running already/.test(l))).toBe(true)
  })

  it('stops a run another instance took', () => {
    const { cluster, calls } = setup()
    cluster.lost.forEach((l) => l('r9'))
    expect(calls).toEqual([
      expect.stringMatching(/^abort r9: run 'r9' was taken over by another server instance/),
    ])
  })

  it('sends its events out and to its browsers, and the others’ to its browsers only', () => {
    const { cluster, bus, seen, unwire } = setup()
    const ownBus: string[] = []
    bus.on('run', (r) => ownBus.push(r.runId))
    bus.emit('run', row('mine'))
    bus.emit('task', { runId: 'mine', event: { type: 'info' } as never })
    cluster.events.forEach((l) => l({ type: 'run', row: row('theirs') }))
    expect(seen).toEqual(['run mine', 'task mine', 'run theirs'])
    expect(ownBus).toEqual(['mine'])
    expect(cluster.published.map((e) => e.type)).toEqual(['run', 'task'])
    unwire()
    bus.emit('run', row('after'))
    cluster.events.forEach((l) => l({ type: 'run', row: row('after-theirs') }))
    expect(seen).toHaveLength(3)
  })

  it('reads the jobs again when another instance changed them, and announces nothing back', () => {
    const { cluster, calls, seen } = setup()
    cluster.events.forEach((l) => l({ type: 'jobs' }))
    expect(calls).toEqual(['reload'])
    expect(seen).toEqual([])
    expect(cluster.published).toEqual([])
  })
})
