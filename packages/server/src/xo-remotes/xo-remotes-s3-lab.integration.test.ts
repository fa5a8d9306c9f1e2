// XO remotes through the API on S3 (radosgw) and restored onto a pool (the lab): a remote in a bucket is
// added with its S3 keys (sealed, never returned nor logged), browsed and a disk downloaded byte-identical,
// with every object of the bucket unchanged; a VM is rebuilt from a delta point and from an XVA as a
// restore run with a task tree, its disks equal to the ones backed up.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { openStore } from '@strata/core/storage'
import {
  createTestBucket,
  requireBinary,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { buildScenario, dirSink, storeDigest, storeSink, VM, type Scenario } from '@strata/core/xo/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

requireBinary('radosgw')

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('XO remotes through the API: S3 and restores onto a pool', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let lab: LabPool
  let local: Scenario
  let localId: string
  const logLines: string[] = []

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-xo-s3-')
    local = await buildScenario(dirSink(scratch.path('xo')))
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: [] })
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      echo: (line) => void logLines.push(line),
    })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    localId = (await admin.post('/api/xo-remotes', { name: 'xo', location: scratch.path('xo') })).body.id
  }, 180_000)
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('reads a remote in a bucket with its S3 keys sealed, and writes nothing to it', async () => {
    const s3 = useS3Server()
    const location = s3Location(s3, await createTestBucket(s3), 'xo')
    const store = await openStore(location, s3Env(s3))
    const scenario = await buildScenario(storeSink(store))
    const before = await storeDigest(store)
    const keys = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
    const added = await admin.post('/api/xo-remotes', { name: 'xo-s3', location, s3: keys })
    expect(added.status, JSON.stringify(added.body)).toBe(201)
    const points = (await admin.get(`/api/xo-remotes/${added.body.id}/points`)).body as { id: string }[]
    expect(points.map((p) => p.id).sort()).toEqual([...scenario.points.keys()].sort())
    const [id, point] = [...scenario.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
    const response = await fetch(`${server.url}/api/xo-remotes/${added.body.id}/points/${id}/disks/1.raw`, {
      headers: { cookie: admin.cookie! },
    })
    expect(Buffer.from(await response.arrayBuffer()).equals(point.disks[1]!)).toBe(true)
    const everything = JSON.stringify((await admin.get('/api/xo-remotes')).body)
    expect(everything).not.toContain(s3.secretAccessKey)
    expect(logLines.join('\n')).not.toContain(s3.secretAccessKey)
    const db = await readFile(scratch.path('data', 'strata.db'))
    expect(db.includes(Buffer.from(s3.secretAccessKey))).toBe(false)
    expect(await storeDigest(store)).toBe(before)
    await store.close?.()
  }, 180_000)

  describe('VM restores', () => {
    let poolId: string
    let srUuid: string

    beforeAll(async () => {
      const pool = { name: 'lab', url: lab.url, username: lab.user, password: lab.password }
      poolId = (await admin.post('/api/pools', { ...pool, fingerprint: lab.fingerprint })).body.id
      await until('the pool', async () =>
        (await admin.get(`/api/pools/${poolId}`)).body.connected ? true : undefined,
      )
      const srs = (await admin.get(`/api/pools/${poolId}/objects?type=SR`)).body as {
        uuid: string
        name_label: string
      }[]
      srUuid = srs.find((s) => s.name_label === 'Local storage')!.uuid
    })

    const restore = async (pointId: string) => {
      const started = await admin.post(`/api/xo-remotes/${localId}/restores`, { pointId, poolId, srUuid })
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      const run = await until(`run ${started.body.runId}`, async () => {
        const { body } = await admin.get('/api/runs?limit=1000')
        return body.find(
          (r: { runId: string; status: string }) => r.runId === started.body.runId && r.status !== 'pending',
        )
      })
      const tree = (await admin.get(`/api/runs/${run.runId}`)).body
      return { run, tree }
    }

    it('rebuilds a VM from a delta point as a restore run, its disks equal to the ones backed up', async () => {
      const [id, point] = [...local.points].filter(([, p]) => p.vm === VM.delta).at(-1)!
      const { run, tree } = await restore(id)
      expect(run).toMatchObject({
        kind: 'restore',
        status: 'success',
        jobName: 'restore of web from XO remote xo',
      })
      expect(tree).toMatchObject({ name: 'restore', data: { backup: id, vmUuid: expect.any(String) } })
      const vm = lab.state.db.find('VM', (r) => r.uuid === tree.data.vmUuid)[0]![0]
      const disks = lab.guest.disks(vm)
      expect(disks).toHaveLength(2)
      for (const [i, vdi] of disks.entries())
        expect((await lab.readDisk(vdi)).equals(point.disks[i]!), `disk ${i}`).toBe(true)
    }, 180_000)

    it('imports the XVA of a full point', async () => {
      const [id, point] = [...local.points].find(([, p]) => p.mode === 'full')!
      const { run, tree } = await restore(id)
      expect(run.status).toBe('success')
      const vm = lab.state.db.find('VM', (r) => r.uuid === tree.data.vmUuid)[0]![0]
      const disks = lab.guest.disks(vm)
      for (const [i, vdi] of disks.entries())
        expect((await lab.readDisk(vdi)).equals(point.disks[i]!), `disk ${i}`).toBe(true)
    }, 180_000)

    it('refuses an unusable point before any run, and an SR the pool does not have', async () => {
      const [bad, expected] = [...local.points].find(
        ([, p]) => p.unusable !== undefined && p.mode !== 'unknown',
      )!
      const refused = await admin.post(`/api/xo-remotes/${localId}/restores`, {
        pointId: bad,
        poolId,
        srUuid,
      })
      expect(refused.status).toBe(422)
      expect(refused.body.error.message).toMatch(expected.unusable!)
      const noSr = await admin.post(`/api/xo-remotes/${localId}/restores`, {
        pointId: [...local.points.keys()][0],
        poolId,
        srUuid: 'no-such-sr',
      })
      expect(noSr.status).toBe(400)
    })
  })
})
