// A repository's points through the API against a real server and a real local repository: a point is
// deleted alone, a protected one is refused (409) until unprotected, roles are checked, and usage says
// "not measured yet" (null, measuring) instead of a false 0 B; a repository re-created behind the server
// after it opened it is refused, never listed through the old handle.
import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listPoints, PointWriter, Repository } from '@strata/core/repository'
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

describe('restore points through the API', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let repo: Repository
  let points: string[]
  let base: string

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-points-')
    repo = await Repository.create(new LocalStore(scratch.path('repo')), { chunkSize: 1024 * 1024 })
    points = [await writePoint(repo, 1), await writePoint(repo, 2), await writePoint(repo, 3)]
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    const created = await admin.post('/api/repositories', { name: 'local', location: scratch.path('repo') })
    expect(created.status).toBe(201)
    base = `/api/repositories/${created.body.id}`
  }, 60_000)
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('says usage is not measured yet, then gives it', async () => {
    const first = await admin.get(base)
    expect(first.body).toMatchObject({ usage: null, measuring: true })
    let now = first.body
    for (let i = 0; i < 200 && now.usage === null; i++) {
      await new Promise((r) => setTimeout(r, 20))
      now = (await admin.get(base)).body
    }
    expect(now.usage.chunks).toBe(3)
    expect(now.usage.bytes).toBeGreaterThan(0)
    expect((await admin.get('/api/overview')).body.repositories[0]).toMatchObject({ usage: now.usage })
  })

  it('deletes one point, and refuses a protected one until it is unprotected', async () => {
    const [oldest, middle, newest] = points as [string, string, string]
    const deleted = await admin.delete(`${base}/points/${middle}`)
    expect(deleted.status).toBe(204)
    expect((await listPoints(repo)).map((p) => p.pointId)).toEqual([oldest, newest])
    expect((await admin.delete(`${base}/points/${middle}`)).body.error.code).toBe('POINT_NOT_FOUND')

    const protectedNow = await admin.post(`${base}/points/${oldest}/protection`)
    expect(protectedNow.body).toEqual({ pointId: oldest, protected: true })
    const listed = (await admin.get(`${base}/points`)).body as { id: string; protected: boolean }[]
    expect(listed.map((p) => [p.id, p.protected])).toEqual([
      [newest, false],
      [oldest, true],
    ])
    const refused = await admin.delete(`${base}/points/${oldest}`)
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({ code: 'POINT_PROTECTED' })
    expect(refused.body.error.message).toContain('unprotect it first')
    expect((await listPoints(repo)).map((p) => p.pointId)).toEqual([oldest, newest])

    const lifted = await admin.delete(`${base}/points/${oldest}/protection`)
    expect(lifted.body).toEqual({ pointId: oldest, protected: false })
    // By '<vm>/<point id>' too, as the listing's ref names it.
    expect((await admin.delete(`${base}/points/${encodeURIComponent(`vm-1/${oldest}`)}`)).status).toBe(204)
    expect((await listPoints(repo)).map((p) => p.pointId)).toEqual([newest])
  })

  it('lets only an admin delete or protect', async () => {
    expect(
      (await admin.post('/api/users', { username: 'op', password: 'operator-pw', role: 'operator' })).status,
    ).toBe(201)
    const operator = new ApiClient(server.url)
    await operator.login('op', 'operator-pw')
    const newest = points[2]!
    expect((await operator.delete(`${base}/points/${newest}`)).status).toBe(403)
    expect((await operator.post(`${base}/points/${newest}/protection`)).status).toBe(403)
    expect((await listPoints(repo)).map((p) => p.pointId)).toEqual([newest])
    expect((await admin.delete(`${base}/points/nope`)).status).toBe(404)
  })

  it('refuses a repository re-created behind the server after it was opened', async () => {
    const spare = await Repository.create(new LocalStore(scratch.path('spare')))
    await writePoint(spare, 4)
    const added = await admin.post('/api/repositories', { name: 'spare', location: scratch.path('spare') })
    expect(added.status).toBe(201)
    const points = `/api/repositories/${added.body.id}/points`
    expect((await admin.get(points)).body).toHaveLength(1) // opened, and kept open
    await rm(scratch.path('spare'), { recursive: true })
    await Repository.create(new LocalStore(scratch.path('spare')))
    const refused = await admin.get(points)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('REPOSITORY_CONFIG_CHANGED')
    expect((await admin.get(`/api/repositories/${added.body.id}/vms`)).status).toBe(409)
  })
})
