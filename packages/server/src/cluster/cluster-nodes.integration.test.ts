// Several instances in processes of their own on a real PostgreSQL: twenty schedules due at the same
// moment fire once each across three instances; killing the leader (SIGKILL) hands the schedules to
// another within a bounded time with no tick fired twice or lost; a run whose instance was killed is
// reclaimed by exactly one survivor.
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import pg from 'pg'
import { postgresDatabase, usePostgres } from '@strata/core/testing'
import { afterEach, describe, expect, it } from 'vitest'

interface Message {
  readonly instanceId: string
  readonly type: string
  readonly [key: string]: unknown
}

class Node {
  readonly messages: Message[] = []
  readonly child: ChildProcess

  constructor(
    url: string,
    readonly id: string,
    count: number,
    cron: string,
  ) {
    this.child = fork(join(import.meta.dirname, 'fixtures', 'cluster-node.ts'), [id, String(count), cron], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, STRATA_TEST_PG_URL: url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.child.on('message', (m: Message) => this.messages.push(m))
  }

  of(type: string): Message[] {
    return this.messages.filter((m) => m.type === type)
  }

  get leader(): boolean {
    return this.of('leader').at(-1)?.leader === true
  }

  async until(what: string, test: () => boolean, ms = 20_000): Promise<void> {
    const end = Date.now() + ms
    while (!test()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  kill(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve()
      this.child.once('exit', () => resolve())
      this.child.kill('SIGKILL')
    })
  }
}

let nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.kill()))
  nodes = []
})

async function startNodes(url: string, n: number, count: number, cron: string): Promise<Node[]> {
  nodes = Array.from({ length: n }, (_, i) => new Node(url, `node-${i}`, count, cron))
  await Promise.all(
    nodes.map((node) => node.until('the node to start', () => node.of('ready').length > 0, 30_000)),
  )
  return nodes
}

async function ticks(url: string): Promise<{ job_id: string; due_at: string; instance: string }[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query('SELECT job_id, due_at, instance FROM strata_cluster_ticks ORDER BY due_at'))
      .rows
  } finally {
    await client.end()
  }
}

const fired = (all: Node[]): Message[] => all.flatMap((n) => n.of('fired'))

describe('server instances in separate processes on one PostgreSQL', () => {
  it('fires each of 20 schedules due at the same moment exactly once across three instances', async () => {
    const url = await postgresDatabase(usePostgres())
    // Due every 10 s rather than every minute: the same claim per due time, without waiting up to a
    // minute for it. The moment looked at is at least 2 s away, after the leader is known.
    const all = await startNodes(url, 3, 20, '*/10 * * * * *')
    await all[0]!.until('a leader', () => all.filter((n) => n.leader).length === 1)
    const due = Math.ceil((Date.now() + 2000) / 10_000) * 10_000
    await all[0]!.until('the due time', () => Date.now() > due + 3000, 30_000)
    const at = fired(all).filter((m) => (m.at as number) >= due && (m.at as number) < due + 10_000)
    expect(at).toHaveLength(20)
    expect(new Set(at.map((m) => m.jobId)).size).toBe(20)
    expect(new Set(at.map((m) => m.instanceId))).toEqual(new Set([all.find((n) => n.leader)!.id]))
    const rows = (await ticks(url)).filter((r) => Number(r.due_at) === due)
    expect(rows).toHaveLength(20)
  }, 120_000)

  it('hands the schedules to another instance when the leader is killed, firing no tick twice and losing none', async () => {
    const url = await postgresDatabase(usePostgres())
    const all = await startNodes(url, 2, 20, '*/3 * * * * *')
    await all[0]!.until('a leader', () => all.filter((n) => n.leader).length === 1)
    const first = all.find((n) => n.leader)!
    const other = all.find((n) => n !== first)!
    // Kill between ticks (every 3 s), after the leader fired at least one.
    await first.until('a first tick', () => first.of('fired').length >= 20)
    await first.until('a moment between ticks', () => Date.now() % 3000 > 1000 && Date.now() % 3000 < 1500)
    const killedAt = Date.now()
    await first.kill()
    await other.until('the other to lead', () => other.leader, 10_000)
    const tookOverMs = (other.of('leader').at(-1)!.at as number) - killedAt
    expect(tookOverMs).toBeLessThan(3000)
    const end = Date.now() + 7000
    await other.until('two more ticks', () => Date.now() > end)

    const all_ = fired(all)
    const keys = all_.map((m) => `${String(m.jobId)}@${Math.round((m.at as number) / 1000)}`)
    // A tick fired twice would show as two firings of a job within one tick period.
    for (const job of new Set(all_.map((m) => m.jobId))) {
      const times = all_
        .filter((m) => m.jobId === job)
        .map((m) => m.at as number)
        .sort((a, b) => a - b)
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(1500)
    }
    // Every due time claimed was fired, once; every due time from the first firing on was claimed.
    const rows = await ticks(url)
    expect(all_.length).toBe(rows.length)
    const dues = [...new Set(rows.map((r) => Number(r.due_at)))].sort((a, b) => a - b)
    for (let t = dues[0]!; t <= dues.at(-1)!; t += 3000)
      expect(
        rows.filter((r) => Number(r.due_at) === t),
        `tick ${new Date(t).toISOString()}`,
      ).toHaveLength(20)
    expect(rows.some((r) => r.instance === other.id)).toBe(true)
    expect(new Set(keys).size).toBe(keys.length)
  }, 90_000)

  it('resumes on a surviving instance, once, a run whose instance was killed', async () => {
    const url = await postgresDatabase(usePostgres())
    const all = await startNodes(url, 3, 1, '0 0 1 1 *')
    const [owner, ...others] = all as [Node, Node, Node]
    owner.child.send({ type: 'claim', runId: 'run-1', jobId: 'job-0' })
    await owner.until('the claim', () => owner.of('claimed').length === 1)
    await owner.kill()
    await owner.until('an orphan', () => others.some((n) => n.of('orphan').length > 0), 15_000)
    await new Promise((r) => setTimeout(r, 3000)) // a few more sweeps: no second hand-out
    const orphans = others.flatMap((n) => n.of('orphan'))
    expect(orphans).toHaveLength(1)
    expect(orphans[0]!.run).toEqual({ runId: 'run-1', jobId: 'job-0', owner: 'node-0' })
  }, 60_000)
})
