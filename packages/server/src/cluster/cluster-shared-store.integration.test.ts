// Issue 26 end to end: two server instances, each a process of its own, on ONE PostgreSQL store (records
// and coordination), sealing with one secret key as a deployment does, back up the lab pool (a process of
// its own: a pool outlives the servers). Twenty schedules due at the same second fire once each across
// both; the instance running a backup is SIGKILLed: its worker undoes its snapshot, the other instance
// marks the run interrupted (naming the dead one) and runs the job again to success, and its API shows
// the interrupted run with the task tree the dead instance had stored.
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { postgresDatabase, scratchDir, usePostgres, type Scratch } from '@strata/core/testing'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { ApiClient } from '../testing/api-client.js'
import { until } from '../testing/lab-job.js'

interface Node {
  readonly child: ChildProcess
  readonly messages: { type: string; [key: string]: unknown }[]
}

const undo: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const u of undo.reverse()) await u().catch(() => undefined)
  undo.length = 0
})

function node(script: string, args: string[], env: Record<string, string> = {}): Node {
  const child = fork(join(import.meta.dirname, 'fixtures', script), args, {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const messages: Node['messages'] = []
  child.on('message', (m: Node['messages'][number]) => messages.push(m))
  undo.push(async () => void child.kill('SIGKILL'))
  return { child, messages }
}

/** The node's next message of this type after `after` of them. */
function message<T>(n: Node, type: string, after = 0): Promise<T> {
  return until(`'${type}' from a child process`, () => {
    if (n.child.exitCode !== null) throw new Error(`the child process exited (${n.child.exitCode})`)
    return n.messages.filter((m) => m.type === type)[after] as T | undefined
  })
}

interface Tree {
  readonly name: string
  readonly status: string
  readonly children: Tree[]
}

interface Snapshot {
  readonly name: string
  readonly run?: string
}

async function snapshots(lab: Node): Promise<Snapshot[]> {
  const seen = lab.messages.filter((m) => m.type === 'snapshots').length
  lab.child.send({ type: 'snapshots' })
  return (await message<{ snapshots: Snapshot[] }>(lab, 'snapshots', seen)).snapshots
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('two server instances on one PostgreSQL store', () => {
  it('fire each of 20 schedules once; the killed instance’s run is resumed by the other, its record kept', async () => {
    const url = await postgresDatabase(usePostgres())
    const scratch: Scratch = await scratchDir('strata-shared-store-')
    undo.push(() => scratch[Symbol.asyncDispose]())
    const lab = node('lab-node.ts', ['8'])
    const pool = await message<{ url: string; user: string; password: string; fingerprint: string }>(
      lab,
      'ready',
    )
    // Production's lease and polling (15 s and 2 s): twenty workers starting at once on two busy cores
    // kept an instance from renewing shorter leases (1.5 s, and 5 s at a load of 35) in time, and the
    // other instance took and ran its runs again.
    const env = {
      STRATA_TEST_PG_URL: url,
      STRATA_TEST_SECRET_KEY: randomBytes(32).toString('hex'),
      STRATA_TEST_LEASE_MS: '15000',
      STRATA_TEST_POLL_MS: '2000',
    }
    // One after the other: the first makes the schema and the admin, the second finds them.
    const a = node('server-node.ts', [scratch.path('a'), 'a'], env)
    const onA = new ApiClient((await message<{ url: string }>(a, 'ready')).url)
    const b = node('server-node.ts', [scratch.path('b'), 'b'], env)
    const onB = new ApiClient((await message<{ url: string }>(b, 'ready')).url)
    await onA.login('admin', 'admin-password')
    await onB.login('admin', 'admin-password')
    const db = new pg.Client({ connectionString: url })
    await db.connect()
    undo.push(() => db.end())

    // The configuration, made on a, is b's too (one store): a pool, a repository, a job on 'prod'.
    const added = await onA.post('/api/pools', {
      name: 'lab',
      url: pool.url,
      username: pool.user,
      password: pool.password,
      fingerprint: pool.fingerprint,
    })
    const poolId = added.body.id as string
    await until('the pool', async () =>
      (await onA.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
    )
    const repo = await onA.post('/api/repositories', {
      name: 'local',
      location: scratch.path('repo'),
      init: true,
    })
    const job = (name: string, tags: string[], schedules: unknown[] = [], api = onA) =>
      api.post('/api/jobs', {
        name,
        vms: { smart: { pools: [poolId], tags } },
        repositories: [repo.body.id],
        schedules,
      })
    const jobId = (await job('Nightly', ['prod'])).body.id as string

    // Twenty schedules due at the same second (a few seconds ahead, UTC), on VMs none has (skipped runs),
    // made on b: a, the leader (started first), learns of them from b.
    const due = Math.ceil((Date.now() + 12_000) / 1000) * 1000
    const at = new Date(due)
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`
    const schedule = { id: 's', cron, timezone: 'UTC', enabled: true }
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => job(`tick ${i}`, ['none'], [schedule], onB)),
    )
    expect(jobs.map((j) => j.status)).toEqual(Array(20).fill(201))
    expect(Date.now(), 'the jobs were made before their schedules came due').toBeLessThan(due - 500)
    const ticked = new Set(jobs.map((j) => j.body.id as string))
    const ended = await until(
      'twenty scheduled runs',
      async () => {
        const runs = (
          (await onB.get('/api/runs?limit=100')).body as { jobId: string; status: string }[]
        ).filter((r) => ticked.has(r.jobId))
        return runs.length >= 20 && runs.every((r) => r.status !== 'pending') ? runs : undefined
      },
      90_000,
    )
    const ticks = await db.query<{ job_id: string; instance: string }>(
      'SELECT job_id, instance FROM strata_cluster_ticks WHERE due_at = $1',
      [due],
    )
    const owners = await db.query<{ owner: string }>(
      'SELECT owner FROM strata_cluster_runs WHERE job_id = ANY($1)',
      [[...ticked]],
    )
    const taken = [...a.messages, ...b.messages].filter((m) => /taken over|resumed here/.test(String(m.line)))
    expect(ended, taken.map((m) => String(m.line)).join('\n')).toHaveLength(20)
    expect(new Set(ended.map((r) => r.jobId))).toEqual(ticked)
    expect(ended.map((r) => r.status)).toEqual(Array(20).fill('skipped'))
    expect(ticks.rows).toHaveLength(20)
    expect(new Set(ticks.rows.map((r) => r.instance))).toEqual(new Set(['a']))
    expect(owners.rows).toHaveLength(20)
    expect(new Set(owners.rows.map((r) => r.owner))).toEqual(new Set(['a']))

    // A backup on a, slowed so that it is killed mid-run, once its snapshot is taken.
    lab.child.send({ type: 'slow', ms: 150 })
    expect((await onA.post(`/api/jobs/${jobId}/run`)).status).toBe(202)
    const aRun = await until('a’s lease', async () => {
      const { rows } = await db.query(
        `SELECT run_id FROM strata_cluster_runs WHERE owner = 'a' AND job_id = $1`,
        [jobId],
      )
      return rows[0]?.run_id as string | undefined
    })
    await until('a’s snapshot', async () =>
      (await snapshots(lab)).some((s) => s.run === aRun) ? true : undefined,
    )
    // B shows the running run's tree from the store (a's events, written every second), snapshot included.
    const live = await until('a’s run on b', async () => {
      const tree = (await onB.get(`/api/runs/${aRun}`)).body as Tree
      const vm = tree.children?.find((c) => c.name === 'VM')
      return vm?.children.some((c) => c.name === 'snapshot') ? tree : undefined
    })
    expect(live.status).toBe('pending')
    const worker = (
      JSON.parse(
        (await readFile(scratch.path('a', 'engine', 'runs', `${aRun}.jsonl`), 'utf8')).split('\n')[0]!,
      ) as {
        data: { pid: number }
      }
    ).data.pid
    expect(alive(worker)).toBe(true)
    const killed = Date.now()
    a.child.kill('SIGKILL')

    // The killed instance's worker sees its parent gone and undoes its snapshot before it exits, while
    // the pool is still slow: b's run of the job (whose retention would remove it too) has not ended.
    await until('a’s worker to exit', () => (alive(worker) ? undefined : true), 30_000)
    expect((await snapshots(lab)).filter((s) => s.run === aRun)).toEqual([])
    const runsOfJob = async () =>
      (await onB.get(`/api/runs?job=${jobId}`)).body as {
        runId: string
        status: string
        error?: { message: string }
      }[]
    expect((await runsOfJob()).filter((r) => r.runId !== aRun && r.status !== 'pending')).toEqual([])
    lab.child.send({ type: 'slow', ms: 0 })

    const bRun = await until(
      'the run resumed on b',
      async () => (await runsOfJob()).find((r) => r.runId !== aRun && r.status !== 'pending'),
      60_000,
    )
    expect(bRun.status).toBe('success')
    const { rows } = await db.query(
      'SELECT run_id, owner, status, resumed_by, ended_at FROM strata_cluster_runs WHERE job_id = $1 ORDER BY started_at',
      [jobId],
    )
    expect(rows.map(({ ended_at: _, ...r }) => r)).toEqual([
      { run_id: aRun, owner: 'a', status: 'interrupted', resumed_by: 'b' },
      { run_id: bRun.runId, owner: 'b', status: 'success', resumed_by: null },
    ])
    // Taken within a lease and a sweep (a third of a lease) of the kill, with room for a loaded machine.
    expect((rows[0].ended_at as Date).getTime() - killed).toBeLessThan(25_000)
    expect(
      b.messages.some((m) =>
        String(m.line).includes(
          `run '${aRun}' of job 'Nightly' was interrupted on instance 'a': resumed here`,
        ),
      ),
    ).toBe(true)

    // The interrupted run's record and tree, on the surviving instance.
    const record = (await runsOfJob()).find((r) => r.runId === aRun)!
    expect(record.status).toBe('interrupted')
    expect(record.error?.message).toBe("server instance 'a' stopped during the run")
    const tree = (await onB.get(`/api/runs/${aRun}`)).body as Tree
    expect(tree.status).toBe('interrupted')
    expect(tree.children.map((c) => [c.name, c.status])).toEqual([
      ['connect pool', 'success'],
      ['open repository', 'success'],
      ['VM', 'interrupted'],
    ])
    expect(tree.children[2]!.children.map((c) => [c.name, c.status])).toContainEqual([
      'snapshot',
      'interrupted',
    ])
    const report = (await onB.get(`/api/runs/${aRun}/report`)).body as string
    expect(report).toContain("server instance 'a' stopped during the run")
    // One snapshot on the pool: the base b's run keeps for the next one.
    expect(await snapshots(lab)).toMatchObject([{ run: bRun.runId }])
  }, 240_000)
})
