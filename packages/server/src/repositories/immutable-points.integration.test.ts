// An immutable local repository (chattr +i) through the API: each point says until when it is locked,
// usage counts the locked points, chunks and bytes, and a delete before the date is 409 POINT_LOCKED.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

requireBinary('chattr')
const DAY = 86_400_000

describe('an immutable repository through the API', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let base: string
  let pointId: string

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-immutable-')
    const immutable = { seconds: 86_400, mode: 'compliance' } as const
    const repo = await Repository.create(new LocalStore(scratch.path('repo')), {
      chunkSize: 1024 * 1024,
      immutable,
    })
    const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { vm: { name_label: 'web-01' } } })
    await point.openDisk('xvda', 2 * 1024 * 1024).putChunk(0, Buffer.alloc(1024 * 1024, 7))
    pointId = (await point.commit({ full: true })).pointId
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    const created = await admin.post('/api/repositories', { name: 'locked', location: scratch.path('repo') })
    expect(created.status).toBe(201)
    base = `/api/repositories/${created.body.id}`
  }, 60_000)
  afterAll(async () => {
    await server?.close()
    await promisify(execFile)('chattr', ['-R', '-f', '-i', scratch.dir]).catch(() => undefined)
    await scratch?.[Symbol.asyncDispose]()
  })

  it('shows lock dates and locked usage, and refuses a delete before the date', async () => {
    const [listed] = (await admin.get(`${base}/points`)).body
    expect(listed.id).toBe(pointId)
    expect(listed.lockedUntil).toBeGreaterThan(Date.now() + DAY - 600_000)
    let now = (await admin.get(base)).body
    for (let i = 0; i < 200 && now.usage === null; i++) {
      await new Promise((r) => setTimeout(r, 20))
      now = (await admin.get(base)).body
    }
    expect(now.usage.locked).toEqual({ points: 1, chunks: 1, bytes: now.usage.bytes })
    const refused = await admin.delete(`${base}/points/${pointId}`)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('POINT_LOCKED')
    expect((await admin.get(`${base}/points`)).body.map((p: { id: string }) => p.id)).toEqual([pointId])
  })
})
