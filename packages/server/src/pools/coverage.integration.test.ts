// GET /api/coverage against a lab pool and a real server: which jobs select each VM (the engine's
// selection: tags, power state, exclusions, the restored tag), the VMs no enabled job covers, and each
// VM's last backup run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'
import { RunStore } from '../runs/run-store.js'

const VMS = [
  { name: 'web-01', power: 'Running' as const, tags: ['prod'], disks: [4] },
  { name: 'db-01', power: 'Halted' as const, tags: ['prod'], disks: [4] },
  { name: 'test-01', power: 'Running' as const, tags: [], disks: [4] },
  { name: 'web-01 (restored)', power: 'Halted' as const, tags: ['prod', 'restored from backup'], disks: [4] },
]

interface Vm {
  uuid: string
  name: string
  covered: boolean
  jobs: { name: string; enabled: boolean }[]
  lastBackup?: { runId: string; status: string; jobName: string }
}

describe('GET /api/coverage', () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let api: ApiClient

  beforeAll(async () => {
    requireBinary('mke2fs')
    scratch = await scratchDir('strata-server-coverage-')
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: VMS })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const pool = await api.post('/api/pools', {
      name: 'lab',
      url: lab.url,
      password: lab.password,
      fingerprint: lab.fingerprint,
    })
    expect(pool.status).toBe(201)
    const repo = await api.post('/api/repositories', {
      name: 'r',
      location: scratch.path('repo'),
      init: true,
    })
    const job = (name: string, vms: unknown, enabled = true) =>
      api.post('/api/jobs', { name, enabled, vms, repositories: [repo.body.id] })
    expect((await job('Prod running', { smart: { tags: ['prod'], powerState: 'Running' } })).status).toBe(201)
    expect((await job('Old db', { uuids: ['db-01'] }, false)).status).toBe(201)
    const web = lab.vmNames()
    expect(web).toContain('web-01')
  }, 120_000)
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  async function coverage(): Promise<{ pools: { name: string; connected: boolean; vms: Vm[] }[] }> {
    for (let i = 0; i < 100; i++) {
      const body = (await api.get('/api/coverage')).body
      if (body.pools[0]?.vms.length === VMS.length) return body
      await sleep(100)
    }
    throw new Error('the pool never showed its VMs')
  }

  it("names each VM's jobs and the VMs no enabled job covers", async () => {
    const [pool] = (await coverage()).pools
    expect(pool).toMatchObject({ name: 'lab', connected: true })
    const byName = new Map(pool!.vms.map((v) => [v.name, v]))
    expect(byName.get('web-01')).toMatchObject({
      covered: true,
      jobs: [{ name: 'Prod running', enabled: true }],
    })
    // Selected only by a disabled job: not covered.
    expect(byName.get('db-01')).toMatchObject({ covered: false, jobs: [{ name: 'Old db', enabled: false }] })
    expect(byName.get('test-01')).toMatchObject({ covered: false, jobs: [] })
    // A restored copy is left out of smart selections, as runs do.
    expect(byName.get('web-01 (restored)')).toMatchObject({ covered: false, jobs: [] })
  })

  it("gives each VM's last backup run", async () => {
    const [pool] = (await coverage()).pools
    const web = pool!.vms.find((v) => v.name === 'web-01')!
    const runs = new RunStore(server.context.db)
    const run = async (runId: string, start: number, status: 'success' | 'failure') => {
      await runs.insert({
        runId,
        jobId: 'j',
        jobName: 'Prod running',
        kind: 'backup',
        status: 'pending',
        start,
        warnings: 0,
      })
      await runs.addDetails(runId, { vms: [{ uuid: web.uuid, name: 'web-01', status }] })
      await runs.end(runId, status, start + 1000)
    }
    await run('run-older', Date.now() - 60_000, 'failure')
    await run('run-newer', Date.now() - 1000, 'success')
    const after = (await coverage()).pools[0]!.vms
    expect(after.find((v) => v.name === 'web-01')?.lastBackup).toMatchObject({
      runId: 'run-newer',
      status: 'success',
      jobName: 'Prod running',
    })
    expect(after.find((v) => v.name === 'test-01')?.lastBackup).toBeUndefined()
  })
})
