// Maintenance run by the server, against the lab: a job keeping 2 points over ten runs leaves a
// repository the size of about two points once the server's gc ran; check and verify runs are listed
// with the backup runs; a corrupted chunk found by the scheduled verify turns that run red, naming it.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

const MiB = 1024 * 1024

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** Bytes of the files under `dir`. */
async function sizeOf(dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  return total
}

interface Run {
  runId: string
  status: string
  kind?: string
  jobName?: string
  error?: { code: string; message: string }
}

describe('repository maintenance run by the server', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient
  let repoId: string
  let jobId: string
  const repoDir = (): string => scratch.path('repo')

  const ended = (runId: string): Promise<Run> =>
    until(`run ${runId}`, async () => {
      const { body } = await api.get('/api/runs?limit=1000')
      return (body as Run[]).find((r) => r.runId === runId && r.status !== 'pending')
    })
  const maintain = async (task: string): Promise<Run> => {
    const res = await api.post(`/api/repositories/${repoId}/maintenance/${task}/run`)
    expect(res.status, JSON.stringify(res.body)).toBe(202)
    return ended(res.body.runId)
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-maintenance-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-a', power: 'Running', tags: ['prod'], disks: [16] }],
    })
    // The test ticks the maintenance timer itself: the server's own (each minute) would start the clock of
    // the verify below before the test's first look when the runs above last over a minute.
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      maintenanceTickMs: 86_400_000,
    })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const poolId = (
      await api.post('/api/pools', {
        name: 'Lab pool',
        url: lab.url,
        username: lab.user,
        password: lab.password,
        fingerprint: lab.fingerprint,
      })
    ).body.id
    await until('the pool', async () =>
      (await api.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
    )
    repoId = (await api.post('/api/repositories', { name: 'Local repo', location: repoDir(), init: true }))
      .body.id
    jobId = (
      await api.post('/api/jobs', {
        name: 'Keep two',
        vms: { smart: { pools: [poolId], tags: ['prod'] } },
        repositories: [repoId],
        schedules: [
          { id: 'often', name: 'Often', cron: '0 2 * * *', timezone: 'UTC', retention: { keepLast: 2 } },
        ],
      })
    ).body.id
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('has the default schedule, editable, and refuses a bad one', async () => {
    expect((await api.get(`/api/repositories/${repoId}/maintenance`)).body).toEqual({
      gc: { everyHours: 24 },
      check: { everyHours: 168 },
      verify: { everyHours: 168, sample: 0.05 },
    })
    const bad = await api.request('PUT', `/api/repositories/${repoId}/maintenance`, {
      gc: { everyHours: -1 },
      check: { everyHours: 1 },
      verify: { everyHours: 1, sample: 2 },
    })
    expect(bad.status).toBe(400)
    const schedule = {
      gc: { everyHours: 24, safetyMarginMinutes: 0 },
      check: { everyHours: 168 },
      verify: { everyHours: 168, sample: 1 },
    }
    expect((await api.request('PUT', `/api/repositories/${repoId}/maintenance`, schedule)).body).toEqual(
      schedule,
    )
    expect((await api.post(`/api/repositories/${repoId}/maintenance/defrag/run`)).status).toBe(400)
  })

  it('keeps a keep-last-2 repository at about two points over ten runs because the server ran gc', async () => {
    const vdi = lab.guest.disks(lab.ref('VM', 'web-a'))[0]!
    const sizes: number[] = []
    for (let i = 0; i < 10; i++) {
      await lab.guest.write(vdi, 0, randomBytes(6 * MiB)) // each point: 6 MiB of data no other shares
      const run = await ended((await api.post(`/api/jobs/${jobId}/run`, { scheduleId: 'often' })).body.runId)
      expect(run.status).toBe('success')
      sizes.push(await sizeOf(repoDir()))
      await api.get(`/api/repositories/${repoId}/points`) // rollback detection compares each listing
    }
    // The server's own retention removed 8 points: no rollback warning for them.
    expect((await api.get(`/api/repositories/${repoId}`)).body.rollback).toBeUndefined()
    const twoPoints = sizes[1]!
    expect(sizes[9]!).toBeGreaterThan(twoPoints + 30 * MiB) // retention forgot 8 points, their chunks stay
    const gc = await maintain('gc')
    expect(gc).toMatchObject({ status: 'success', kind: 'maintenance', jobName: 'gc of Local repo' })
    const after = await sizeOf(repoDir())
    expect(after).toBeLessThan(twoPoints + 4 * MiB)
    const check = await maintain('check')
    expect(check.status).toBe('success')
    const report = await api.get(`/api/runs/${gc.runId}/report`)
    expect(report.status).toBe(200)
  }, 300_000)

  it('turns the scheduled verify red when a chunk is corrupt, naming the chunk', async () => {
    const chunks = join(repoDir(), 'chunks')
    let file = ''
    let name = ''
    for (const prefix of await readdir(chunks)) {
      const names = await readdir(join(chunks, prefix)) // gc leaves emptied directories behind
      if (names.length === 0) continue
      name = names[0]!
      file = join(chunks, prefix, name)
      break
    }
    const bytes = await readFile(file)
    bytes[bytes.length - 1]! ^= 0x40
    await writeFile(file, bytes)
    await api.request('PUT', `/api/repositories/${repoId}/maintenance`, {
      gc: { everyHours: 0 },
      check: { everyHours: 0 },
      verify: { everyHours: 0.0001, sample: 1 }, // due 0.36 s after its last start
    })
    // What the server's timer does each minute: the first look starts the clock of a task never run.
    expect(await server.context.maintenance.tick()).toEqual([])
    await sleep(500)
    const started = await server.context.maintenance.tick()
    expect(started).toHaveLength(1)
    const verify = await ended(started[0]!)
    expect(verify).toMatchObject({
      status: 'failure',
      kind: 'maintenance',
      error: { code: 'CORRUPT_OBJECT' },
    })
    expect(verify.error!.message).toContain(`chunk ${name}`)
    const listed = (await api.get(`/api/runs?limit=1000`)).body as Run[]
    expect(listed.map((r) => r.kind)).toEqual(expect.arrayContaining(['backup', 'maintenance']))
  })
})
