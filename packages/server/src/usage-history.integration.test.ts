// A repository's usage over time through the API: the samples the server took with their dedup and
// compression ratios, bounded and refused past a year, and the outcome of the repository's last gc,
// check and verify (a corrupted chunk turns verify red, named).
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { until } from './testing/lab-job.js'
import { repositoryWithPoint } from './testing/repository-fixture.js'
import { startTestServer } from './testing/test-server.js'

const MiB = 1024 * 1024

describe('usage history of a repository', () => {
  let scratch: Scratch
  let server: RunningServer
  let api: ApiClient
  let repoId: string

  const history = async (query = '') => {
    const res = await api.get(`/api/repositories/${repoId}/usage-history${query}`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    return res.body
  }
  const maintain = async (task: string) => {
    const res = await api.post(`/api/repositories/${repoId}/maintenance/${task}/run`)
    expect(res.status, JSON.stringify(res.body)).toBe(202)
    const runId = res.body.runId as string
    await until(`${task} run`, async () => {
      const runs = (await api.get('/api/runs?limit=100')).body as { runId: string; status: string }[]
      return runs.find((r) => r.runId === runId && r.status !== 'pending')
    })
    return runId
  }

  beforeAll(async () => {
    scratch = await scratchDir('strata-usage-history-')
    // Two VMs with the same disk: the second point deduplicates entirely against the first.
    await repositoryWithPoint(scratch.path('repo'), { vm: 'web-a', diskBytes: 4 * MiB })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const repo = await api.post('/api/repositories', { name: 'main', location: scratch.path('repo') })
    expect(repo.status, JSON.stringify(repo.body)).toBe(201)
    repoId = repo.body.id
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('gives the samples with stored and logical bytes, ratios and points', async () => {
    await server.context.reporting.sampler.sampleAll()
    const body = await history()
    expect(body).toMatchObject({ repositoryId: repoId, name: 'main', chunkSize: expect.any(Number) })
    expect(body.samples.length).toBeGreaterThanOrEqual(1)
    const last = body.samples.at(-1)
    expect(last).toMatchObject({ logicalBytes: 4 * MiB, points: 1 })
    expect(last.uniqueBytes).toBe(last.chunks * body.chunkSize)
    // Random data: nothing to deduplicate but the point's own chunks, nothing to compress.
    expect(last.dedupRatio).toBeCloseTo((4 * MiB) / last.uniqueBytes, 6)
    expect(last.compressionRatio).toBeCloseTo(last.uniqueBytes / last.storedBytes, 6)
    expect(last.compressionRatio).toBeGreaterThan(0.9)
    expect(last.compressionRatio).toBeLessThan(1.01)
    expect(body.maintenance).toEqual({ gc: null, check: null, verify: null })
  })

  it('refuses more than a year back and an unknown repository', async () => {
    expect((await api.get(`/api/repositories/${repoId}/usage-history?days=400`)).status).toBe(400)
    expect((await api.get(`/api/repositories/${repoId}/usage-history?days=soon`)).status).toBe(400)
    expect((await api.get('/api/repositories/repo-nope/usage-history')).status).toBe(404)
  })

  it('shows the last gc, check and verify, a corrupted chunk naming itself', async () => {
    const gc = await maintain('gc')
    const check = await maintain('check')
    let body = await history()
    expect(body.maintenance.gc).toMatchObject({ runId: gc, status: 'success' })
    expect(body.maintenance.check).toMatchObject({ runId: check, status: 'success' })
    expect(body.maintenance.verify).toBeNull()
    const chunks = join(scratch.path('repo'), 'chunks')
    const dir = (await readdir(chunks, { recursive: true, withFileTypes: true })).find((e) => e.isFile())!
    await writeFile(join(dir.parentPath, dir.name), Buffer.from('not a chunk'))
    await api.request('PUT', `/api/repositories/${repoId}/maintenance`, {
      gc: { everyHours: 24 },
      check: { everyHours: 168 },
      verify: { everyHours: 168, sample: 1 },
    })
    const verify = await maintain('verify')
    body = await history()
    expect(body.maintenance.verify).toMatchObject({ runId: verify, status: 'failure' })
    expect(body.maintenance.verify.error.message).toContain(dir.name.slice(0, 12))
  })
})
