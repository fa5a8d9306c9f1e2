// Issue 26's scale on one host, through a real server. Listing: 10,000 runs (paged from the runs
// table's index) in pages of under a second each, and 10,000 restore points of a real local repository
// (from its point index: one listing of one directory, its segment read once) in under a second. A run: a lab pool of 200 small sparse VMs (in a
// process of its own) backed up by one smart job under the default limits ends green while the runs list, the run, the jobs and the overview keep
// answering (p99 under 200 ms), and the memory of the server and of the worker stays under fixed
// ceilings, the worker's grown by under 64 MiB from VM 50 to VM 200 (figures: `npm run bench -- scale`,
// docs/scale-out.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, writeManyPoints, type Scratch } from '@strata/core/testing'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'
import { runScale, startScale, type ScaleSetup } from './testing/scale-run.js'

const RUNS = 10_000

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - t0 }
}

describe('listing at scale', () => {
  let scratch: Scratch
  let server: RunningServer
  let api: ApiClient

  beforeAll(async () => {
    scratch = await scratchDir('strata-scale-list-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it(`pages through ${RUNS} runs, each page in well under a second`, async () => {
    const store = server.context.runs.deps.runs
    const start = Date.UTC(2025, 0, 1)
    await store.db.transaction(async () => {
      for (let n = 0; n < RUNS; n++) {
        const runId = `run-${String(n).padStart(5, '0')}`
        await store.insert({
          runId,
          jobId: `job-${n % 5}`,
          jobName: 'Nightly',
          kind: 'backup',
          status: 'pending',
          start: start + n * 60_000,
          warnings: 0,
        })
        const vms = [1, 2, 3].map((v) => ({ uuid: `uuid-${v}`, name: `vm-${v}`, status: 'success' as const }))
        const points = vms.map((vm) => ({
          repositoryId: 'r',
          repository: 'local',
          vmUuid: vm.uuid,
          vm: vm.name,
          pointId: `p-${n}-${vm.name}`,
        }))
        await store.addDetails(runId, { vms, points })
        await store.end(runId, n % 10 === 0 ? 'failure' : 'success', start + n * 60_000 + 30_000)
      }
    })
    const first = await timed(() => api.get('/api/runs'))
    expect(first.value.body).toHaveLength(100)
    expect(first.value.body[0]).toMatchObject({ runId: 'run-09999', status: 'success' })
    expect(first.value.body[0].vms.map((v: { name: string }) => v.name)).toEqual(['vm-1', 'vm-2', 'vm-3'])
    const seen: string[] = []
    const pages: number[] = []
    let before: string | undefined
    for (;;) {
      const page = await timed(() =>
        api.get(`/api/runs?limit=1000${before === undefined ? '' : `&before=${before}`}`),
      )
      expect(page.value.status).toBe(200)
      const runs = page.value.body as { runId: string }[]
      if (runs.length === 0) break
      pages.push(page.ms)
      seen.push(...runs.map((r) => r.runId))
      before = runs.at(-1)!.runId
    }
    const all = await timed(() => api.get('/api/runs?limit=9999'))
    const failed = await timed(() => api.get('/api/runs?state=failure&job=job-0&limit=9999'))
    console.log(
      `runs: first page ${first.ms.toFixed(0)} ms, 10 pages of 1000 ${pages.map((p) => p.toFixed(0)).join('/')} ms, ` +
        `9999 at once ${all.ms.toFixed(0)} ms, filtered ${failed.ms.toFixed(0)} ms`,
    )
    expect(seen).toHaveLength(RUNS)
    expect(new Set(seen).size).toBe(RUNS)
    expect(seen.at(-1)).toBe('run-00000')
    expect(failed.value.body).toHaveLength(RUNS / 10)
    expect(first.ms).toBeLessThan(1000)
    expect(Math.max(...pages)).toBeLessThan(1000)
    expect(pages.reduce((a, b) => a + b, 0)).toBeLessThan(5000)
    expect(all.ms).toBeLessThan(2000)
    const unknown = await api.get('/api/runs?before=no-such-run')
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.message).toContain("no run 'no-such-run'")
    expect((await api.get('/api/runs?before=a%2Fb')).status).toBe(400)
  }, 120_000)

  it('lists 10,000 restore points, one VM of them and the VMs, warm in under a second, cold in a few', async () => {
    const location = scratch.path('points-repo')
    const made = await timed(() => writeManyPoints(location, { vms: 200, perVm: 50 }))
    const repo = await api.post('/api/repositories', { name: 'many', location })
    expect(repo.status).toBe(201)
    const path = `/api/repositories/${repo.body.id}/points`
    // Cold: the server has not opened the repository; it lists the index and reads its one segment.
    const cold = await timed(() => api.get(path))
    expect(cold.value.body).toHaveLength(10_000)
    // Best of five: the machine is shared (and the first listings after the cold one pay for its
    // garbage); what is measured is the server's own cost of a listing.
    const best = async (p: string) => {
      let top = await timed(() => api.get(p))
      for (let i = 1; i < 5; i++) {
        const next = await timed(() => api.get(p))
        if (next.ms < top.ms) top = next
      }
      return top
    }
    const warm = await best(path)
    const oneVm = await best(`${path}?vm=vm-0042`)
    const vms = await best(`/api/repositories/${repo.body.id}/vms`)
    // The server just started (the repository known, its points seen before): the index read cold.
    await server.close()
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const restarted = await timed(() => api.get(path))
    expect(restarted.value.body).toHaveLength(10_000)
    console.log(
      `points: made in ${made.ms.toFixed(0)} ms; first listing ${cold.ms.toFixed(0)} ms (the index's segment read), ` +
        `then best of 5 ${warm.ms.toFixed(0)} ms; one VM ${oneVm.ms.toFixed(0)} ms; VMs ${vms.ms.toFixed(0)} ms; ` +
        `after a restart ${restarted.ms.toFixed(0)} ms`,
    )
    expect(warm.value.body).toHaveLength(10_000)
    // Newest first: the point PointWriter wrote now, then the copies, the last VM's newest.
    expect(warm.value.body.slice(0, 2).map((p: { vmName: string }) => p.vmName)).toEqual([
      'vm-0000',
      'vm-0199',
    ])
    expect(warm.value.body[1]).toMatchObject({ kind: 'full', disks: [{ name: 'xvda' }] })
    expect(oneVm.value.body).toHaveLength(50)
    expect(vms.value.body).toHaveLength(200)
    expect(warm.ms).toBeLessThan(1000)
    expect(oneVm.ms).toBeLessThan(1000)
    expect(vms.ms).toBeLessThan(1000)
    // Cold, the server reads and checks the segment (5 MiB of JSON) and describes every point; the very
    // first listing of a repository also has the rollback watch record its 10,000 points. Before the
    // index, a cold listing took 4.5–4.8 s here; see docs/scale-out.md for these figures under load.
    expect(restarted.ms).toBeLessThan(2000)
    expect(cold.ms).toBeLessThan(4000)
  }, 120_000)
})

describe('a run of 200 VMs', () => {
  let setup: ScaleSetup

  beforeAll(async () => {
    setup = await startScale(200)
  }, 120_000)
  afterAll(async () => {
    await setup?.close()
  })

  it('ends green while the API answers in time and memory stays bounded', async () => {
    const f = await runScale(setup, 200, 240_000)
    console.log(
      `200 VMs: ${f.status} in ${(f.runMs / 1000).toFixed(1)} s; ${f.latency.count} GETs p50 ` +
        `${f.latency.p50.toFixed(1)} ms p99 ${f.latency.p99.toFixed(1)} ms; server RSS ` +
        `${f.serverRssBefore.toFixed(0)} → ${f.serverRssPeak.toFixed(0)} MiB; workers ${f.workerRssPeaks.map((w) => w.toFixed(0)).join(', ')} MiB ` +
        `(${f.workerRssEarly.toFixed(0)} MiB after ${f.early} VMs)`,
    )
    expect(f.status).toBe('success')
    const run = (await setup.api.get(`/api/runs/${f.runId}`)).body
    expect(run.children.filter((c: { name: string }) => c.name === 'VM')).toHaveLength(200)
    const listed = (await setup.api.get(`/api/runs?job=${setup.jobId}`)).body[0]
    expect(listed.points).toHaveLength(200)
    expect((await setup.api.get(`/api/repositories/${setup.repositoryId}/points`)).body).toHaveLength(200)
    expect(f.latency.count).toBeGreaterThan(100)
    expect(f.latency.p99).toBeLessThan(200)
    expect(f.serverRssPeak - f.serverRssBefore).toBeLessThan(256)
    expect(f.workerRssPeaks.length).toBeGreaterThan(0)
    for (const peak of f.workerRssPeaks) expect(peak).toBeLessThan(WORKER_CEILING_MIB)
    expect(f.workerRssEarly).toBeGreaterThan(0)
    expect(Math.max(...f.workerRssPeaks) - f.workerRssEarly).toBeLessThan(WORKER_GROWTH_MIB)
  }, 300_000)
})

// The worker's peak was 211 MiB here (load 20–30); the ceiling leaves room for a loaded machine.
const WORKER_CEILING_MIB = 384
// Between VM 50 and VM 200 the worker grew by 9 MiB; when each disk's buffers stayed alive in the codec
// threads it grew by 299 MiB (2 MiB per VM). 64 MiB fails a leak of a fifth of a chunk per VM and
// leaves room for the heap and malloc noise that does not grow with the VMs (docs/scale-out.md).
const WORKER_GROWTH_MIB = 64
