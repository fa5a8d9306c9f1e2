// A VM restored onto itself through the API, against the lab: the server says whether a point can be
// restored "rewriting only what changed" (its VM still there, halted, with the same disks), and such a
// restore rewrites the VM's disks in place in a worker, creating no VM, the run's task tree carrying
// what was compared and rewritten. A VM that runs is refused with the reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { sleep, silentTask } from '@strata/core'
import { restoreDiskToFile, runRestoreInWorker } from '@strata/core/engine'
import { Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { XapiClient } from '@strata/core/xapi'
import { LabPool } from '@strata/lab'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

const MiB = 1024 * 1024

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('a VM restored onto itself through the API', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient
  let body: { repositoryId: string; pointId: string; kind: 'vm'; poolId: string; srUuid: string }
  const vms = () => lab.state.db.find('VM', (r) => r.is_control_domain !== true).length

  const ended = (runId: string) =>
    until(`run ${runId}`, async () => {
      const { body } = await api.get('/api/runs?limit=1000')
      return body.find((r: { runId: string; status: string }) => r.runId === runId && r.status !== 'pending')
    })
  const check = async () => {
    const { repositoryId, pointId, poolId } = body
    const query = new URLSearchParams({ repositoryId, pointId, poolId })
    return api.get(`/api/restores/differential?${query.toString()}`)
  }

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'debugfs', 'openssl']) requireBinary(tool)
    scratch = await scratchDir('strata-server-differential-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'app', power: 'Halted', tags: ['prod'], disks: [16, 8] }],
    })
    server = await startTestServer(
      scratch,
      { adminPassword: 'admin-password' },
      { restore: runRestoreInWorker },
    )
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const pool = { name: 'lab', url: lab.url, username: lab.user, password: lab.password }
    const poolId = (await api.post('/api/pools', { ...pool, fingerprint: lab.fingerprint })).body.id
    await until('the pool', async () =>
      (await api.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
    )
    const repositoryId = (
      await api.post('/api/repositories', { name: 'local', location: scratch.path('repo'), init: true })
    ).body.id
    const job = await api.post('/api/jobs', {
      name: 'app',
      vms: { smart: { pools: [poolId] } },
      repositories: [repositoryId],
    })
    expect((await ended((await api.post(`/api/jobs/${job.body.id}/run`)).body.runId)).status).toBe('success')
    const [point] = (await api.get(`/api/repositories/${repositoryId}/points?vm=app`)).body
    const srs = (await api.get(`/api/pools/${poolId}/objects?type=SR`)).body as { uuid: string }[]
    body = { repositoryId, pointId: point.id, kind: 'vm', poolId, srUuid: srs[0]!.uuid }
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('offers it for the halted VM, and rewrites its disks in place as a run of its own', async () => {
    expect((await check()).body).toEqual({ possible: true, vmUuid: expect.any(String), vmName: 'app' })
    const [disk0, disk1] = lab.guest.disks(lab.ref('VM', 'app'))
    await lab.guest.write(disk0!, 5 * MiB + 100, randomBytes(160_000))
    await lab.guest.write(disk1!, 1 * MiB, randomBytes(4096))
    const before = vms()

    const restore = await api.post('/api/restores', { ...body, differential: true })
    expect(restore.status).toBe(202)
    const run = await ended(restore.body.runId)
    expect(run).toMatchObject({ status: 'success', kind: 'restore', jobName: 'restore of app onto itself' })
    const tree = (await api.get(`/api/runs/${run.runId}`)).body
    expect(tree.data).toMatchObject({ differential: true, path: 'cbt', comparedBytes: 24 * MiB })
    expect(tree.data.rewrittenBytes).toBe(4 * MiB) // a 2 MiB VHD block on each disk
    expect(tree.children.map((c: { name: string }) => c.name)).toEqual(['disk', 'disk'])
    expect(vms()).toBe(before) // no VM created

    const repository = await Repository.open(new LocalStore(scratch.path('repo')))
    for (const [i, vdi] of [disk0!, disk1!].entries()) {
      const path = scratch.path(`disk-${i}.raw`)
      const o = { repository, pointId: body.pointId, disk: i, path, format: 'raw' } as const
      await restoreDiskToFile(silentTask(), o)
      expect((await lab.readDisk(vdi)).equals(await readFile(path)), `disk ${i}`).toBe(true)
    }
  })

  it('says why not while the VM runs, and refuses the restore; only a VM restore can be differential', async () => {
    const xapi = new XapiClient(lab.connection)
    await xapi.call('VM.start', [lab.ref('VM', 'app'), false, false])
    try {
      expect((await check()).body).toEqual({
        possible: false,
        code: 'VM_NOT_HALTED',
        reason: expect.stringContaining("VM 'app'"),
      })
      const refused = await api.post('/api/restores', { ...body, differential: true })
      expect([refused.status, refused.body.error.code]).toEqual([409, 'VM_NOT_HALTED'])
    } finally {
      await xapi.call('VM.hard_shutdown', [lab.ref('VM', 'app')])
      await xapi.close()
    }
    const disk = await api.post('/api/restores', { ...body, kind: 'disk', disk: 0, differential: true })
    expect([disk.status, disk.body.error.code]).toEqual([400, 'INVALID_REQUEST'])
  })
})
