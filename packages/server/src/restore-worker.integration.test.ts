// Restores through the API run in worker processes, against the lab pool: a disk restored into a new VDI;
// a restore whose worker is killed mid-transfer fails with the reason while the API keeps answering, and
// the half-restored VM and VDI are removed; a fatal error injected into the worker (engine/testing/, the
// only way in) cannot take the API down either; and a restore cancelled by the server's stop is undone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { readRun, runRestoreInWorker } from '@strata/core/engine'
import { runRestoreInFaultyWorker } from '@strata/core/engine/testing'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { XapiClient } from '@strata/core/xapi'
import { LabPool } from '@strata/lab'
import { join } from 'node:path'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { openSse, type SseStream } from './testing/sse-reader.js'
import { startTestServer } from './testing/test-server.js'

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

interface TaskMessage {
  runId: string
  event: { type: string; id: string; data?: { pid?: number } }
}

describe('restores in worker processes, through the API', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient
  let body: Record<string, unknown>
  /** The fatal error the next restore's worker is given (engine/testing/), if any. */
  let fatal: 'transfer' | undefined
  const counts = () => ({
    vms: lab.state.db.find('VM', (r) => r.is_control_domain !== true).length,
    vdis: lab.state.db.table('VDI').size,
    pendingTasks: lab.state.db.find('task', (r) => r.status === 'pending').length,
  })
  let before: ReturnType<typeof counts>

  /** The run's summary once it ended. */
  const ended = (runId: string) =>
    until(`run ${runId}`, async () => {
      const { body } = await api.get('/api/runs?limit=1000')
      return body.find((r: { runId: string; status: string }) => r.runId === runId && r.status !== 'pending')
    })
  /** An upload that never ends: the restore stays mid-transfer until its worker dies. */
  const stallImports = () =>
    lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: 1024 * 1024 })
  /** The task events of a run seen on the stream so far. */
  const taskEvents = (sse: SseStream, runId: string) =>
    sse.events
      .filter((e) => e.event === 'task' && (e.data as TaskMessage).runId === runId)
      .map((e) => (e.data as TaskMessage).event)

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-server-restore-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-a', power: 'Running', tags: ['prod'], disks: [8] }],
    })
    server = await startTestServer(
      scratch,
      { adminPassword: 'admin-password' },
      {
        restore: (o) =>
          fatal === undefined ? runRestoreInWorker(o) : runRestoreInFaultyWorker({ ...o, fatal }),
      },
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
      name: 'web',
      vms: { smart: { pools: [poolId] } },
      repositories: [repositoryId],
    })
    expect((await ended((await api.post(`/api/jobs/${job.body.id}/run`)).body.runId)).status).toBe('success')
    const [point] = (await api.get(`/api/repositories/${repositoryId}/points?vm=web-a`)).body
    const srs = (await api.get(`/api/pools/${poolId}/objects?type=SR`)).body as {
      uuid: string
      name_label: string
    }[]
    const srUuid = srs.find((s) => s.name_label === 'Local storage')!.uuid
    body = { repositoryId, pointId: point.id, kind: 'vm', poolId, srUuid }
    before = counts()
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('restores a disk into a new VDI on the SR, as a run of its own', async () => {
    const restore = await api.post('/api/restores', { ...body, kind: 'disk', disk: 0 })
    expect(restore.status).toBe(202)
    const run = await ended(restore.body.runId)
    expect(run).toMatchObject({ status: 'success', kind: 'restore', jobName: 'restore of disk 0 of web-a' })
    const tree = (await api.get(`/api/runs/${run.runId}`)).body
    expect(tree).toMatchObject({ name: 'restore', status: 'success', data: { vdiUuid: expect.any(String) } })
    expect(tree.data.pid).not.toBe(process.pid) // its worker's
    expect(tree.children).toEqual([expect.objectContaining({ name: 'transfer', status: 'success' })])
    const vdi = lab.state.db.find('VDI', (r) => r.uuid === tree.data.vdiUuid)
    expect(vdi).toHaveLength(1)
    await until('the transfer to let go of the VDI', async () =>
      lab.state.db.find('VBD', (r) => r.VDI === vdi[0]![0]).length === 0 ? true : undefined,
    )
    const xapi = new XapiClient(lab.connection)
    await xapi.call('VDI.destroy', [vdi[0]![0]])
    await xapi.close()
    expect(counts()).toEqual(before)
  })

  it('fails a restore whose worker is killed mid-transfer, keeps answering, and leaves nothing on the pool', async () => {
    stallImports()
    const sse = await openSse(`${server.url}/api/events`, api.cookie!)
    const { runId } = (await api.post('/api/restores', body)).body
    const start = await until('the restore under way', async () => {
      const events = taskEvents(sse, runId)
      return events.some((e) => e.type === 'progress') ? events.find((e) => e.id === '0') : undefined
    })
    const pid = start.data!.pid!
    expect(pid).not.toBe(process.pid) // the restore runs in a worker, not in the server
    process.kill(pid, 'SIGKILL')
    const run = await ended(runId)
    expect(run).toMatchObject({
      status: 'failure',
      error: { code: 'WORKER_EXITED', message: expect.stringMatching(/stopped \(SIGKILL\) during run /) },
    })
    expect((await api.get('/api/health')).status).toBe(200)
    const tree = (await api.get(`/api/runs/${runId}`)).body
    expect(tree).toMatchObject({ status: 'interrupted', error: { code: 'WORKER_EXITED' } })
    expect(tree.infos.map((i: { message: string }) => i.message)).toEqual([
      expect.stringMatching(/^removed what the restore had created: VM \S+, VDI \S+$/),
    ])
    await until('the lab as before', async () => (sameCounts(counts(), before) ? true : undefined), 10_000)
    sse.close()
    lab.faults.clear()
  })

  it('a fatal error in the restore worker (injected) fails its run and cannot take the API down', async () => {
    stallImports()
    fatal = 'transfer'
    const { runId } = (await api.post('/api/restores', body)).body
    fatal = undefined
    const run = await ended(runId)
    expect(run).toMatchObject({
      status: 'failure',
      error: { code: 'WORKER_EXITED', message: expect.stringContaining('stopped (exit code 1)') },
    })
    expect((await api.get('/api/health')).status).toBe(200)
    await until('the lab as before', async () => (sameCounts(counts(), before) ? true : undefined), 10_000)
    lab.faults.clear()
    // The server goes on: the next restore succeeds.
    const next = await ended((await api.post('/api/restores', body)).body.runId)
    expect(next).toMatchObject({
      status: 'success',
      vms: [{ name: expect.stringMatching(/^web-a \(restored /) }],
    })
  })

  it('cancels the restores that run when the server stops: their workers undo their work', async () => {
    const restored = counts()
    stallImports()
    const sse = await openSse(`${server.url}/api/events`, api.cookie!)
    const { runId } = (await api.post('/api/restores', body)).body
    await until('the restore under way', async () =>
      taskEvents(sse, runId).some((e) => e.type === 'progress') ? true : undefined,
    )
    await server.close()
    const tree = await readRun(join(server.config.dataDir, 'engine', 'runs'), runId)
    expect(tree).toMatchObject({ status: 'interrupted' })
    expect(tree.infos).toEqual([]) // the worker undid its own work: the server had nothing to remove
    await until('the lab as before', async () => (sameCounts(counts(), restored) ? true : undefined), 10_000)
  })
})

function sameCounts(a: object, b: object): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
