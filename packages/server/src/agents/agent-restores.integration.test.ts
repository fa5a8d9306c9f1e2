// Restores onto an agent's pool run on the agent (the built CLI's `strata agent`), in a worker process
// there, against the real lab pool: the restored VM's disk and a restored VDI are byte-identical to the
// point's disk, the server never connects to the pool, and the restore reads through the API as a local
// one (its task tree, the restored VM). Once the repository is assigned to the agent, a restore from it
// runs there too (the server never opens it), onto the agent's pools only; its points are protected,
// unprotected and deleted through the agent. A restore worker killed on the agent leaves nothing behind:
// the agent removes what it had created. An offline agent makes the restore refuse to start, naming it.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { cliAgentBuilt, startCliAgent, type CliAgent } from './testing/cli-agent.js'
import { addSitePool, pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'

interface Tree {
  status: string
  data?: Record<string, unknown>
  error?: { code: string; message: string }
}

describe('restores on an agent', { timeout: 240_000 }, () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let admin: PinnedAdmin
  let agent: { id: string; token: string; serverUrl: string; fingerprint: string }
  let cli: CliAgent | undefined
  let poolId: string
  let repoId: string
  let pointId: string
  let srUuid: string
  let original: Buffer

  const startAgent = (): void => {
    cli = startCliAgent(agent, scratch.path('agent'), 'site-b')
  }
  const online = async () => {
    const agents = (await admin.request<{ name: string; state: string }[]>('GET', '/api/agents')).body
    return agents.find((a) => a.name === 'site-b')?.state === 'online' || undefined
  }
  const restore = (body: Record<string, unknown>) =>
    admin.request<{ runId: string; error: { code: string; message: string } }>('POST', '/api/restores', {
      repositoryId: repoId,
      pointId,
      poolId,
      srUuid,
      ...body,
    })
  const ended = async (runId: string): Promise<Tree> => {
    await until(
      'the restore',
      async () =>
        (await admin.request<{ runId: string; status: string }[]>('GET', '/api/runs?job=restore')).body.find(
          (r) => r.runId === runId && r.status !== 'pending',
        ),
      180_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; the agent said: ${cli?.said()}`)
    })
    return (await admin.request<Tree>('GET', `/api/runs/${runId}`)).body
  }

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    expect(cliAgentBuilt(), 'npm run build first').toBe(true)
    scratch = await scratchDir('strata-agent-restores-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      // Halted: its disk stays what the point holds, to compare with what is restored.
      vms: [{ name: 'web-b', power: 'Halted', tags: ['prod'], disks: [8] }],
    })
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    poolId = await addSitePool(admin, lab)
    repoId = (
      await admin.request<{ id: string }>('POST', '/api/repositories', {
        name: 'at-b',
        location: scratch.path('site-b-repo'),
        init: true,
      })
    ).body.id
    const job = await admin.request<{ id: string }>('POST', '/api/jobs', {
      name: 'Remote',
      vms: { smart: { pools: [poolId], tags: ['prod'] } },
      repositories: [repoId],
      settings: { retries: 0 },
    })
    agent = (await admin.request<typeof agent>('POST', '/api/agents', { name: 'site-b' })).body
    expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: agent.id })).status).toBe(200)
    startAgent()
    await until('the agent online', online, 30_000)
    const { runId } = (await admin.request<{ runId: string }>('POST', `/api/jobs/${job.body.id}/run`)).body
    await until('the backup on the agent', async () =>
      (await admin.request<{ runId: string; status: string }[]>('GET', `/api/runs?job=${job.body.id}`)).body.find(
        (r) => r.runId === runId && r.status === 'success',
      ), 120_000) // prettier-ignore
    pointId = (await admin.request<{ id: string }[]>('GET', `/api/repositories/${repoId}/points`)).body[0]!.id
    const [vm] = lab.state.db.find('VM', (r) => r.name_label === 'web-b' && r.is_a_snapshot !== true)
    original = await lab.readDisk(lab.guest.disks(vm![0])[0]!)
    srUuid = String(lab.state.db.find('SR', (r) => r.content_type !== 'iso')[0]![1].uuid)
  })
  afterAll(async () => {
    await cli?.stop()
    await server?.close().catch(() => undefined)
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('restores a whole VM on the agent, byte-identical to the point, the pool never connected here', async () => {
    const started = await restore({ kind: 'vm' })
    expect(started.status).toBe(202)
    const tree = await ended(started.body.runId)
    expect(tree).toMatchObject({ status: 'success', data: { vmUuid: expect.any(String) } })
    // The worker ran on the agent: its log of the restore is there, and the server's own copy too.
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${started.body.runId}.jsonl`))).toBe(true)
    expect(existsSync(scratch.path('data', 'engine', 'runs', `${started.body.runId}.jsonl`))).toBe(true)
    const summary = (await admin.request<{ runId: string; vms: { uuid: string }[] }[]>('GET', '/api/runs?job=restore'))
      .body.find((r) => r.runId === started.body.runId) // prettier-ignore
    expect(summary?.vms).toEqual([expect.objectContaining({ uuid: tree.data!.vmUuid })])
    const [vm] = lab.state.db.find('VM', (r) => r.uuid === tree.data!.vmUuid)
    const disks = lab.guest.disks(vm![0])
    expect(disks).toHaveLength(1)
    expect((await lab.readDisk(disks[0]!)).equals(original)).toBe(true)
    expect((await admin.request('GET', `/api/pools/${poolId}`)).body).toMatchObject({ connected: false })
  })

  it('restores one disk into a new VDI on the agent, byte-identical to the point', async () => {
    const started = await restore({ kind: 'disk', disk: 0 })
    expect(started.status).toBe(202)
    const tree = await ended(started.body.runId)
    expect(tree).toMatchObject({ status: 'success', data: { vdiUuid: expect.any(String) } })
    const [vdi] = lab.state.db.find('VDI', (r) => r.uuid === tree.data!.vdiUuid)
    expect((await lab.readDisk(vdi![0])).equals(original)).toBe(true)
  })

  it('fails a restore onto an SR the agent does not find, with the worker’s reason', async () => {
    const started = await restore({ kind: 'disk', disk: 0, srUuid: 'no-such-sr' })
    expect(started.status).toBe(202)
    const tree = await ended(started.body.runId)
    expect(tree.status).toBe('failure')
    expect(tree.error?.message).toContain('no-such-sr')
  })

  it("restores from the agent's own repository on the agent, the server never opening it", async () => {
    const assigned = await admin.request('PUT', `/api/repositories/${repoId}/agent`, { agentId: agent.id })
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200)
    // The server refuses to open an agent's repository itself (AGENT_REPOSITORY): a restore that works
    // found its point through the agent, and the agent's worker read it.
    const started = await restore({ kind: 'vm' })
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    const tree = await ended(started.body.runId)
    expect(tree).toMatchObject({ status: 'success', data: { vmUuid: expect.any(String) } })
    const runs = (await admin.request<{ runId: string; jobName: string }[]>('GET', '/api/runs?job=restore'))
      .body
    expect(runs.find((r) => r.runId === started.body.runId)?.jobName).toBe('restore of web-b')
    const [vm] = lab.state.db.find('VM', (r) => r.uuid === tree.data!.vmUuid)
    expect((await lab.readDisk(lab.guest.disks(vm![0])[0]!)).equals(original)).toBe(true)
    const missing = await restore({ kind: 'vm', pointId: 'no-such-point' })
    expect(missing.status).toBe(404)
    expect(missing.body.error.message).toContain("agent 'site-b'")
  })

  it("refuses a restore from the agent's repository onto a pool of the server's", async () => {
    expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: null })).status).toBe(200)
    try {
      const refused = await restore({ kind: 'vm' })
      expect(refused.status).toBe(409)
      expect(refused.body.error).toMatchObject({
        code: 'AGENT_REPOSITORY_MISMATCH',
        message: expect.stringContaining("agent 'site-b' alone opens"),
      })
    } finally {
      expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: agent.id })).status).toBe(
        200,
      )
    }
  })

  it('removes what a restore worker killed on the agent had created, with the agent’s own pool session', async () => {
    const counts = () => ({
      vms: lab.state.db.find('VM', (r) => r.is_control_domain !== true).length,
      vdis: lab.state.db.table('VDI').size,
    })
    const before = counts()
    // An upload that never ends: the restore stays mid-transfer until its worker dies.
    lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: 1024 * 1024 })
    try {
      const started = await restore({ kind: 'vm' })
      expect(started.status).toBe(202)
      const pending = () => lab.state.db.find('task', (r) => r.status === 'pending').length
      await until('the upload under way', async () => (pending() > 0 ? true : undefined), 60_000)
      const workers = execFileSync('pgrep', ['-P', String(cli!.process.pid)], { encoding: 'utf8' })
      const [worker, ...others] = workers.split('\n').filter((l) => l !== '')
      expect(others).toEqual([])
      process.kill(Number(worker), 'SIGKILL')
      const tree = await ended(started.body.runId)
      expect(tree).toMatchObject({ status: 'interrupted', error: { code: 'WORKER_EXITED' } })
      expect(JSON.stringify(tree)).toMatch(/removed what the restore had created: VM \S+, VDI \S+/)
      expect(counts()).toEqual(before)
    } finally {
      lab.faults.clear()
    }
  })

  it("protects, unprotects and deletes a point of the agent's repository through the agent", async () => {
    const point = `/api/repositories/${repoId}/points/${pointId}`
    const listed = async () =>
      (await admin.request<{ id: string; protected: boolean }[]>('GET', `/api/repositories/${repoId}/points`))
        .body
    expect((await admin.request('POST', `${point}/protection`)).body).toEqual({ pointId, protected: true })
    expect(await listed()).toEqual([expect.objectContaining({ id: pointId, protected: true })])
    const kept = await admin.request<{ error: { code: string; message: string } }>('DELETE', point)
    expect(kept.status).toBe(409)
    expect(kept.body.error).toMatchObject({
      code: 'POINT_PROTECTED',
      message: expect.stringContaining("agent 'site-b'"),
    })
    expect((await admin.request('DELETE', `${point}/protection`)).body).toEqual({ pointId, protected: false })
    expect((await admin.request('DELETE', point)).status).toBe(204)
    expect(await listed()).toEqual([])
    expect((await admin.request('DELETE', point)).status).toBe(404)
  })

  it('refuses a restore while the agent is offline, naming it', async () => {
    await cli!.stop()
    await until('the agent offline', async () => ((await online()) === undefined ? true : undefined), 15_000)
    const refused = await restore({ kind: 'vm' })
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({
      code: 'AGENT_OFFLINE',
      message: expect.stringContaining("agent 'site-b'"),
    })
  })
})
