// Rollback detection against a real server and a real local repository: a point whose manifest is
// removed behind the server's back (found by the server's walk of the manifests, which the point index's
// listings do not read), or a repository directory put back to an older copy, raises a
// warning on the repository (API and overview) naming what vanished, until an admin acknowledges it;
// the server's own deletes (and a backup run's retention, see rollback-watch.test.ts) do not.
import { cp, rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

async function writePoint(repo: Repository, fill: number): Promise<string> {
  const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { vm: { name_label: 'web-01' } } })
  await point.openDisk('xvda', 1024 * 1024).putChunk(0, Buffer.alloc(1024 * 1024, fill))
  const { pointId } = await point.commit({ full: true })
  await new Promise((r) => setTimeout(r, 2))
  return pointId
}

describe('rollback detection', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let repo: Repository
  let base: string
  let id: string

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-rollback-')
    repo = await Repository.create(new LocalStore(scratch.path('repo')), { chunkSize: 1024 * 1024 })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    const created = await admin.post('/api/repositories', { name: 'local', location: scratch.path('repo') })
    expect(created.status).toBe(201)
    id = created.body.id
    base = `/api/repositories/${id}`
  }, 60_000)
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const listed = async () => (await admin.get(`${base}/points`)).body as { id: string }[]
  const warning = async () => (await admin.get(base)).body.rollback

  it("does not warn for new points nor for the server's own deletes", async () => {
    const first = await writePoint(repo, 1)
    const second = await writePoint(repo, 2)
    expect((await listed()).map((p) => p.id)).toEqual([second, first])
    expect((await admin.delete(`${base}/points/${second}`)).status).toBe(204)
    expect((await listed()).map((p) => p.id)).toEqual([first])
    expect(await warning()).toBeUndefined()
    await writePoint(repo, 3)
    await listed()
    expect(await warning()).toBeUndefined()
  })

  it("warns when a manifest is removed behind the server's back, until acknowledged", async () => {
    const victim = await writePoint(repo, 4)
    const survivor = await writePoint(repo, 5)
    await listed()
    // The manifest alone (its point index entry left): listings go by the index, so the point leaves them
    // once the server's walk of the manifests (every minute, here at every listing) has seen it gone.
    server.context.repositoryService.revalidateMs = 0
    await rm(scratch.path('repo', 'points', 'vm-1', victim, 'manifest'))
    await vi.waitFor(async () => expect((await listed()).map((p) => p.id)).not.toContain(victim), {
      timeout: 10_000,
      interval: 50,
    })
    const raised = await warning()
    expect(raised.message).toContain(`vm-1/${victim}`)
    expect(raised.vanished).toEqual([expect.objectContaining({ pointId: victim, vm: 'vm-1' })])
    const overview = (await admin.get('/api/overview')).body.repositories.find(
      (r: { id: string }) => r.id === id,
    )
    expect(overview.rollback.message).toContain(victim)

    // It stays across listings, until an admin acknowledges it (a read-only user may not).
    await listed()
    expect((await warning()).message).toContain(victim)
    expect((await admin.post(`${base}/rollback/acknowledge`)).status).toBe(204)
    expect(await warning()).toBeUndefined()
    await listed()
    expect(await warning()).toBeUndefined()
    expect((await listed()).map((p) => p.id)).toContain(survivor)
  })

  it('warns when the repository directory is put back to an older copy', async () => {
    await cp(scratch.path('repo'), scratch.path('old-copy'), { recursive: true })
    const newer = await writePoint(repo, 6)
    await listed()
    expect(await warning()).toBeUndefined()
    await rm(scratch.path('repo'), { recursive: true })
    await cp(scratch.path('old-copy'), scratch.path('repo'), { recursive: true })
    await listed()
    const raised = await warning()
    expect(raised.vanished.map((p: { pointId: string }) => p.pointId)).toEqual([newer])
    expect(raised.newestRecorded).toMatchObject({ pointId: newer })
    expect(raised.message).toMatch(/newest point listed \(.*\) is older than the newest recorded/)
    expect((await admin.post(`${base}/rollback/acknowledge`)).status).toBe(204)
  })
})
