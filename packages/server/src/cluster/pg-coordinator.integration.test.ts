// The PostgreSQL coordinator against a real server, several coordinators (each its own pool, as
// separate instances would be) in this process: ticks claimed once under a race, leadership lost with
// its connection (pg_terminate_backend) and taken by another, leases reclaimed once and fenced, a job
// refused while it runs elsewhere, and events (small and over the NOTIFY limit) reaching the others.
import pg from 'pg'
import { postgresDatabase, usePostgres } from '@strata/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import type { ClusterEvent, OrphanRun } from './coordinator.js'
import { blackHoleProxy } from './fixtures/black-hole-proxy.js'
import { PgCoordinator } from './pg-coordinator.js'

let started: PgCoordinator[] = []
afterEach(async () => {
  await Promise.all(started.map((c) => c.stop()))
  started = []
})

async function cluster(n: number, leaseMs = 1500): Promise<{ url: string; nodes: PgCoordinator[] }> {
  const url = await postgresDatabase(usePostgres())
  const nodes = Array.from(
    { length: n },
    (_, i) => new PgCoordinator({ connectionString: url, instanceId: `i${i}`, pollMs: 200, leaseMs }),
  )
  started = nodes
  await Promise.all(nodes.map((c) => c.start()))
  return { url, nodes }
}

async function until(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

const leaders = (nodes: PgCoordinator[]): PgCoordinator[] => nodes.filter((c) => c.isLeader())

describe('PgCoordinator', () => {
  it('lets one claimer of each tick win when three instances race for 20 ticks', async () => {
    const { nodes } = await cluster(3)
    const due = Date.UTC(2026, 0, 1, 2, 0)
    const claims = nodes.flatMap((c) =>
      Array.from({ length: 20 }, (_, i) => c.claimTick(`job-${i}`, 's', due).then((won) => ({ i, won }))),
    )
    const results = await Promise.all(claims)
    const won = results.filter((r) => r.won)
    expect(won).toHaveLength(20)
    expect(new Set(won.map((r) => r.i)).size).toBe(20)
    expect(await nodes[1]!.lastTick('job-3', 's')).toBe(due)
    expect(await nodes[1]!.lastTick('job-3', 'other')).toBeUndefined()
  })

  it('has one leader, and another takes over when the leader loses its connection', async () => {
    const { url, nodes } = await cluster(3)
    await until('one leader', () => leaders(nodes).length === 1)
    const first = leaders(nodes)[0]!
    const changes: boolean[] = []
    first.onLeadership((leader) => changes.push(leader))
    const { rows } = await sql(
      url,
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = 2 AND granted`,
      [0x5374],
    )
    expect(rows).toHaveLength(1)
    const cut = Date.now()
    await sql(url, 'SELECT pg_terminate_backend($1)', [rows[0].pid])
    await until('the old leader to notice', () => !first.isLeader(), 5000)
    expect(changes[0]).toBe(false)
    await until('a new leader', () => leaders(nodes).length === 1, 5000)
    expect(Date.now() - cut).toBeLessThan(3000)
    // Never two at once, while they keep competing.
    for (let i = 0; i < 20; i++) {
      expect(leaders(nodes).length).toBeLessThanOrEqual(1)
      await new Promise((r) => setTimeout(r, 50))
    }
  })

  it('hands a run whose owner stopped renewing to exactly one other instance', async () => {
    const { nodes } = await cluster(3)
    const [owner, ...others] = nodes as [PgCoordinator, PgCoordinator, PgCoordinator]
    const orphans: OrphanRun[] = []
    for (const c of others) c.onOrphan((run) => orphans.push(run))
    await owner.claimRun({ runId: 'r1', jobId: 'j1', scheduleId: 's1' })
    await owner.claimRun({ runId: 'r2', jobId: 'j2' })
    await owner.releaseRun('r2', 'success')
    await new Promise((r) => setTimeout(r, 2500)) // over a lease: the owner's renewals keep it
    expect(orphans).toEqual([])
    await owner.stop() // dies: no release, its leases lapse
    await until('the orphan', () => orphans.length > 0, 10_000)
    await new Promise((r) => setTimeout(r, 2000))
    expect(orphans).toEqual([{ runId: 'r1', jobId: 'j1', scheduleId: 's1', owner: 'i0' }])
  })

  it('refuses a run of a job that runs on another instance, and takes it once that one ends', async () => {
    const { nodes } = await cluster(2)
    await nodes[0]!.claimRun({ runId: 'a', jobId: 'j' })
    await expect(nodes[1]!.claimRun({ runId: 'b', jobId: 'j' })).rejects.toMatchObject({
      code: 'JOB_RUNNING_ELSEWHERE',
      retryable: true,
    })
    await nodes[0]!.releaseRun('a', 'success')
    await expect(nodes[1]!.claimRun({ runId: 'b', jobId: 'j' })).resolves.toBeUndefined()
  })

  it('stops an owner cut off from the database before another instance takes its run (fencing)', async () => {
    const url = await postgresDatabase(usePostgres())
    const proxy = await blackHoleProxy(new URL(url).port)
    const via = url.replace(`:${new URL(url).port}/`, `:${proxy.port}/`)
    const owner = new PgCoordinator({ connectionString: via, instanceId: 'i0', pollMs: 200, leaseMs: 1500 })
    const other = new PgCoordinator({ connectionString: url, instanceId: 'i1', pollMs: 200, leaseMs: 1500 })
    started = [owner, other]
    await Promise.all(started.map((c) => c.start()))
    const events: string[] = []
    owner.onLost((runId) => events.push(`lost ${runId}`))
    other.onOrphan((run) => events.push(`taken ${run.runId} from ${run.owner}`))
    await owner.claimRun({ runId: 'r', jobId: 'j' })
    await new Promise((r) => setTimeout(r, 2000))
    expect(events).toEqual([])
    proxy.cut()
    await until('the takeover', () => events.length === 2, 10_000)
    expect(events).toEqual(['lost r', 'taken r from i0'])
    proxy.close()
  })

  it('delivers events to every other instance in order, large ones by reference', async () => {
    const { nodes } = await cluster(3)
    const got = nodes.map(() => [] as ClusterEvent[])
    nodes.forEach((c, i) => c.subscribe((e) => got[i]!.push(e)))
    const big = 'x'.repeat(20_000)
    const events: ClusterEvent[] = [
      { type: 'task', runId: 'r', event: { type: 'start', id: '0', name: 'backup', time: 1 } as never },
      { type: 'task', runId: 'r', event: { type: 'info', id: '0', message: big, time: 2 } as never },
      { type: 'task', runId: 'r', event: { type: 'end', id: '0', status: 'success', time: 3 } as never },
    ]
    for (const e of events) nodes[0]!.publish(e)
    await nodes[0]!.flushed()
    await until('the events', () => got[1]!.length === 3 && got[2]!.length === 3)
    expect(got[1]).toEqual(events)
    expect(got[2]).toEqual(events)
    expect(got[0]).toEqual([])
  })

  it('refuses to send an event over the stored-event bound, and goes on with the next', async () => {
    const url = await postgresDatabase(usePostgres())
    const lines: string[] = []
    const sender = new PgCoordinator({
      connectionString: url,
      instanceId: 'big',
      pollMs: 200,
      log: (_severity, message) => void lines.push(message),
    })
    const receiver = new PgCoordinator({ connectionString: url, instanceId: 'r', pollMs: 200 })
    started = [sender, receiver]
    await Promise.all(started.map((c) => c.start()))
    const got: ClusterEvent[] = []
    receiver.subscribe((e) => got.push(e))
    const huge = { type: 'info', id: '0', message: 'x'.repeat(2 * 1024 * 1024), time: 1 } as never
    sender.publish({ type: 'task', runId: 'r1', event: huge })
    sender.publish({
      type: 'task',
      runId: 'r2',
      event: { type: 'info', id: '0', message: 'm', time: 2 } as never,
    })
    await sender.flushed()
    await until('the small event', () => got.length === 1)
    expect(got.map((e) => (e.type === 'task' ? e.runId : ''))).toEqual(['r2'])
    expect(lines.some((l) => l.includes("an event of run 'r1' is too large to send"))).toBe(true)
  })
})
