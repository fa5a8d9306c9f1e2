// A mirror job's run (kind 'mirror') through runJob: no pool, a task per target counting the chunks
// copied and skipped, each repository opened with its own slot of secrets, a failed target that does not
// stop the others, and an aborted run that ends interrupted, not failed.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ChunkSink } from '../../disks/index.js'
import { listPoints, PointWriter, Repository, RepositoryError } from '../../repository/index.js'
import { MemoryStore } from '../../storage/index.js'
import { scratchDir } from '../../testing/index.js'
import { parseJob } from '../job.js'
import { createPoolLimits } from '../limits.js'
import { readRun } from '../run-log.js'
import { runJob, type OpenTargetOptions, type RunDeps } from '../run.js'
import type { TaskNode } from '../task-view.js'

const CHUNK = 512 * 1024

async function withPoint(repo: Repository, vm: string, chunks: number): Promise<void> {
  const point = await PointWriter.begin(repo, { vm, jobId: 'backup' })
  const sink = new ChunkSink([point.openDisk('xvda', chunks * CHUNK)])
  for (let i = 0; i < chunks; i++) await sink.put(i, randomBytes(CHUNK))
  await point.commit()
}

const job = (mirrorTo: string[], vms: unknown = {}) =>
  parseJob({
    id: 'offsite',
    kind: 'mirror',
    pools: [],
    vms,
    repositories: [{ name: 'src', location: '/src' }],
    mirrorTo: mirrorTo.map((name) => ({ name, location: `/${name}` })),
    schedules: [{ id: 'nightly', retention: { keepLast: 5 } }],
  })

async function setup() {
  const repos = new Map<string, Repository>()
  for (const name of ['src', 'a', 'b'])
    repos.set(name, await Repository.create(new MemoryStore(name), { chunkSize: CHUNK }))
  const opened: { name: string; options: OpenTargetOptions | undefined }[] = []
  const deps: RunDeps = {
    connectPool: () => Promise.reject(new Error('a mirror connects no pool')),
    openRepository: async (target, _signal, options) => {
      opened.push({ name: target.name, options })
      const repo = repos.get(target.name)
      if (repo === undefined)
        throw new RepositoryError('NOT_A_REPOSITORY', `no repository in '${target.location}'`)
      return repo
    },
    backupVm: () => Promise.reject(new Error('a mirror backs up nothing')),
    limits: () => createPoolLimits(),
  }
  return { repos, deps, opened }
}

const find = (node: TaskNode, name: string): TaskNode[] => [
  ...(node.name === name ? [node] : []),
  ...node.children.flatMap((c) => find(c, name)),
]

describe('a mirror job run', () => {
  it('copies the source into each target, a task each, then only what is new', async () => {
    await using dir = await scratchDir('strata-mirror-job-')
    const { repos, deps, opened } = await setup()
    await withPoint(repos.get('src')!, 'vm-1', 3)
    const first = await runJob({
      job: job(['a', 'b']),
      dataDir: dir.path('engine'),
      signal: AbortSignal.timeout(60_000),
      deps,
    })
    expect(first.status).toBe('success')
    expect(opened.map((o) => [o.name, o.options?.slot])).toEqual([
      ['src', 0],
      ['a', 1],
      ['b', 2],
    ])
    const tree = await readRun(dir.path('engine/runs'), first.runId)
    expect(tree).toMatchObject({ name: 'mirror run', data: { kind: 'mirror', mirrorTo: ['a', 'b'] } })
    expect(
      find(tree, 'mirror').map((t) => [t.data.target, t.data.copiedChunks, t.data.copiedPoints]),
    ).toEqual([
      ['a', 3, 1],
      ['b', 3, 1],
    ])
    await withPoint(repos.get('src')!, 'vm-1', 1)
    const second = await runJob({
      job: job(['a']),
      dataDir: dir.path('engine'),
      signal: AbortSignal.timeout(60_000),
      deps,
    })
    const again = find(await readRun(dir.path('engine/runs'), second.runId), 'mirror')[0]!
    expect(again.data).toMatchObject({ copiedPoints: 1, alreadyThere: 1, copiedChunks: 1 })
    expect((await listPoints(repos.get('a')!)).length).toBe(2)
  })

  it('fails naming a target it could not open, after copying into the others', async () => {
    await using dir = await scratchDir('strata-mirror-job-')
    const { repos, deps } = await setup()
    await withPoint(repos.get('src')!, 'vm-1', 2)
    const run = await runJob({
      job: job(['gone', 'b']),
      dataDir: dir.path('engine'),
      signal: AbortSignal.timeout(60_000),
      deps,
    })
    expect(run.status).toBe('failure')
    const tree = await readRun(dir.path('engine/runs'), run.runId)
    expect(tree.error).toMatchObject({ code: 'MIRROR_FAILED' })
    expect(tree.error?.message).toContain("1 of 2 mirror targets failed: 'gone': no repository in '/gone'")
    expect((await listPoints(repos.get('b')!)).length).toBe(1)
  })

  it('ends interrupted when aborted, and the next run completes the copy', async () => {
    await using dir = await scratchDir('strata-mirror-job-')
    const { repos, deps } = await setup()
    await withPoint(repos.get('src')!, 'vm-1', 2)
    const controller = new AbortController()
    const stopping: RunDeps = {
      ...deps,
      openRepository: async (target, signal, options) => {
        if (target.name === 'a') controller.abort(new Error('the server is stopping'))
        return deps.openRepository(target, signal, options)
      },
    }
    const cut = await runJob({
      job: job(['a']),
      dataDir: dir.path('engine'),
      signal: controller.signal,
      deps: stopping,
    })
    expect(cut.status).toBe('interrupted')
    expect((await listPoints(repos.get('a')!)).length).toBe(0)
    const next = await runJob({
      job: job(['a']),
      dataDir: dir.path('engine'),
      signal: AbortSignal.timeout(60_000),
      deps,
    })
    expect(next.status).toBe('success')
    expect((await listPoints(repos.get('a')!)).length).toBe(1)
  })

  it('copies only the listed VMs', async () => {
    await using dir = await scratchDir('strata-mirror-job-')
    const { repos, deps } = await setup()
    await withPoint(repos.get('src')!, 'vm-1', 1)
    await withPoint(repos.get('src')!, 'vm-2', 1)
    const run = await runJob({
      job: job(['a'], ['vm-2']),
      dataDir: dir.path('engine'),
      signal: AbortSignal.timeout(60_000),
      deps,
    })
    expect(run.status).toBe('success')
    expect((await listPoints(repos.get('a')!)).map((p) => p.vm)).toEqual(['vm-2'])
  })
})
