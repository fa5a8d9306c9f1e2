// A repository assigned to an agent is opened by the agent alone. The agent (the built CLI) runs in a
// mount namespace of its own where the repository's directory is another directory bind-mounted over
// it (so that it outlives an agent restart): what the agent writes there is invisible at that path to
// the server, whose view of it stays empty from start to end; so every step below that works (create,
// back up, list points, measure usage, gc) worked through the agent, and the server never created a
// file there. Also: a job whose pools and repositories are in different places
// is refused; a schedule tick sent twice (another run id: a server that fired it again) runs once, across
// an agent restart; while the agent is unreachable its runs say so (not failed) and what needs it
// answers AGENT_UNREACHABLE / AGENT_OFFLINE naming it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { until } from '../testing/lab-job.js'
import { startTestServer } from '../testing/test-server.js'
import { addSitePool, pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'
import { startRelay, type TcpRelay } from './testing/tcp-relay.js'

const BIN = fileURLToPath(new URL('../../../cli/bin/strata.js', import.meta.url))

interface Run {
  runId: string
  status: string
  agentUnreachable?: string
  error?: { code: string; message: string }
}
type Failure = { error: { code: string; message: string } }

describe('repositories assigned to an agent', { timeout: 240_000 }, () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let admin: PinnedAdmin
  let relay: TcpRelay
  let agent: { id: string; token: string; fingerprint: string }
  let agentProcess: ChildProcess | undefined
  let agentErr = ''
  let agentOnly: string
  let poolId: string
  let repoId: string
  let jobId: string

  /** The agent CLI; at the repository's path it sees another directory, which only its namespace does. */
  const startAgent = (): void => {
    agentErr = ''
    const script = 'mount --bind "$1" "$0" && shift && exec "$@"'
    agentProcess = spawn(
      'unshare',
      ['--mount', '--', 'sh', '-c', script, agentOnly, scratch.path('behind'), process.execPath, BIN, 'agent', '--json',
        '--server', relay.url, '--fingerprint', agent.fingerprint, '--data', scratch.path('agent'),
        '--name', 'site-b'],
      { env: { ...process.env, STRATA_AGENT_TOKEN: agent.token }, stdio: ['ignore', 'pipe', 'pipe'] },
    ) // prettier-ignore
    agentProcess.stderr!.on('data', (d: Buffer) => (agentErr = (agentErr + d.toString()).slice(-4000)))
  }
  const stopAgent = async (): Promise<void> => {
    const child = agentProcess
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.on('close', resolve))
    child.kill('SIGTERM')
    await exited
  }
  const state = async () =>
    (await admin.request<{ name: string; state: string }[]>('GET', '/api/agents')).body.find(
      (a) => a.name === 'site-b',
    )?.state
  const online = async () =>
    until('the agent online', async () => (await state()) === 'online' || undefined, 30_000).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}; the agent said: ${agentErr}`)
      },
    )
  const runOf = async (id: string) =>
    (await admin.request<Run[]>('GET', '/api/runs?limit=100')).body.find((r) => r.runId === id)
  const ended = (id: string) =>
    until(
      'the run',
      async () => {
        const run = await runOf(id)
        return run !== undefined && run.status !== 'pending' ? run : undefined
      },
      120_000,
    )
  const untouched = () =>
    expect(readdirSync(agentOnly), 'the server saw files in the agent-only path').toEqual([])

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    requireBinary('unshare')
    requireBinary('mount')
    expect(existsSync(BIN.replace('bin/strata.js', 'dist/commands/agent.js')), 'npm run build first').toBe(
      true,
    )
    scratch = await scratchDir('strata-agent-repos-')
    agentOnly = scratch.path('agent-only')
    await mkdir(agentOnly)
    await mkdir(scratch.path('behind'))
    lab = await LabPool.start({
      diskMBps: 2, // a run of a few seconds, for a cut in its middle
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-b', power: 'Running', tags: ['prod'], disks: [8] }],
    })
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    poolId = await addSitePool(admin, lab)
    agent = (await admin.request<typeof agent>('POST', '/api/agents', { name: 'site-b' })).body
    expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: agent.id })).status).toBe(200)
    relay = await startRelay(new URL(server.url))
    startAgent()
    await online()
  })
  afterAll(async () => {
    await stopAgent().catch(() => undefined)
    relay?.close()
    await server?.close().catch(() => undefined)
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('creates the repository on the agent, at a path only the agent sees', async () => {
    const created = await admin.request<{ id: string; agentId?: string; identity?: { id: string } }>(
      'POST',
      '/api/repositories',
      {
        name: 'at-b',
        location: agentOnly,
        init: true,
        passphrase: 'a long enough passphrase',
        agentId: agent.id,
      },
    )
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    expect(created.body).toMatchObject({
      agentId: agent.id,
      encrypted: true,
      identity: { id: expect.any(String) },
    })
    repoId = created.body.id
    untouched()
    const agents = (await admin.request<{ repositories: string[] }[]>('GET', '/api/agents')).body
    expect(agents[0]!.repositories).toEqual([repoId])
    // An unknown agent: nothing recorded.
    const unknown = await admin.request<Failure>('POST', '/api/repositories', {
      name: 'nowhere',
      location: scratch.path('nowhere'),
      init: true,
      agentId: 'a-nope',
    })
    expect(unknown.status).toBe(404)
    expect(existsSync(scratch.path('nowhere'))).toBe(false)
  })

  it('backs up into it on the agent, then lists its points and measures it through the agent', async () => {
    const job = await admin.request<{ id: string }>('POST', '/api/jobs', {
      name: 'Remote',
      vms: { smart: { pools: [poolId], tags: ['prod'] } },
      repositories: [repoId],
      schedules: [{ id: 'nightly', cron: '0 2 * * *' }],
      settings: { retries: 0 },
    })
    expect(job.status).toBe(201)
    jobId = job.body.id
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    expect((await ended(started.body.runId)).status, agentErr).toBe('success')
    untouched()
    const points = await admin.request<{ vmName: string; size: number }[]>(
      'GET',
      `/api/repositories/${repoId}/points`,
    )
    expect(points.status, JSON.stringify(points.body)).toBe(200)
    expect(points.body).toEqual([expect.objectContaining({ vmName: 'web-b', size: 8 * 1024 * 1024 })])
    const vms = await admin.request<{ name: string; points: number }[]>(
      'GET',
      `/api/repositories/${repoId}/vms`,
    )
    expect(vms.body).toEqual([expect.objectContaining({ name: 'web-b', points: 1 })])
    const measured = await until(
      'the usage measured',
      async () => {
        const repo = (
          await admin.request<{ usage: { chunks: number } | null }>('GET', `/api/repositories/${repoId}`)
        ).body
        return repo.usage !== null ? repo.usage : undefined
      },
      30_000,
    )
    expect(measured.chunks).toBeGreaterThan(0)
    // A point delete goes to the agent (an unknown point: its 404); what is not done through the agent
    // yet (a metadata point's files) is refused, naming it, not attempted here.
    const del = await admin.request<Failure>('DELETE', `/api/repositories/${repoId}/points/${'x'}`)
    expect(del.status).toBe(404)
    expect(del.body.error).toMatchObject({
      code: 'POINT_NOT_FOUND',
      message: expect.stringContaining("agent 'site-b'"),
    })
    const metadata = await admin.request<Failure>('GET', `/api/repositories/${repoId}/points/x/files`)
    expect(metadata.status).toBe(409)
    expect(metadata.body.error).toMatchObject({
      code: 'AGENT_REPOSITORY',
      message: expect.stringContaining("agent 'site-b'"),
    })
    untouched()
  })

  it('runs gc and check of the repository on the agent, as maintenance runs', async () => {
    for (const task of ['gc', 'check']) {
      const started = await admin.request<{ runId: string }>(
        'POST',
        `/api/repositories/${repoId}/maintenance/${task}/run`,
      )
      expect(started.status, JSON.stringify(started.body)).toBe(202)
      const run = await ended(started.body.runId)
      expect(run.status, JSON.stringify(run)).toBe('success')
      const tree = (
        await admin.request<{ name: string; status: string; data: Record<string, unknown> }>(
          'GET',
          `/api/runs/${started.body.runId}`,
        )
      ).body
      expect(tree).toMatchObject({
        name: `repository ${task}`,
        status: 'success',
        data: { repository: 'at-b' },
      })
      if (task === 'check') expect(tree.data).toMatchObject({ points: 1 })
    }
    untouched()
  })

  it('refuses a job whose pools and repositories are in different places', async () => {
    // The pool back on the server: the server would have to open the agent's repository.
    expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: null })).status).toBe(200)
    const refused = await admin.request<Failure>('POST', `/api/jobs/${jobId}/run`)
    expect((await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: agent.id })).status).toBe(200)
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({
      code: 'AGENT_REPOSITORY_MISMATCH',
      message: expect.stringMatching(/job 'Remote' runs on this server.*'at-b'.*agent 'site-b'/),
    })
  })

  it('runs a schedule tick once when it is sent twice, across an agent restart', async () => {
    const { runs, jobs } = server.context
    const dueAt = Date.parse('2026-12-07T02:00:00Z')
    const first = await runs.startJob(await jobs.get(jobId), 'nightly', dueAt)
    expect((await ended(first)).status).toBe('success')
    const again = await runs.startJob(await jobs.get(jobId), 'nightly', dueAt)
    expect(await ended(again)).toMatchObject({
      status: 'skipped',
      error: { code: 'AGENT_TICK_DONE', message: expect.stringContaining(first) },
    })
    await stopAgent()
    startAgent()
    await online()
    const third = await runs.startJob(await jobs.get(jobId), 'nightly', dueAt)
    expect(await ended(third)).toMatchObject({ status: 'skipped', error: { code: 'AGENT_TICK_DONE' } })
    // The job ran once for that tick: the agent has no log of the others.
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${first}.jsonl`))).toBe(true)
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${again}.jsonl`))).toBe(false)
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${third}.jsonl`))).toBe(false)
    const points = (await admin.request<unknown[]>('GET', `/api/repositories/${repoId}/points`)).body
    expect(points, JSON.stringify(points)).toHaveLength(2) // the run by hand, and the tick's one run
  })

  it('while the agent is unreachable: its run says so, not failed, and what needs it says which agent', async () => {
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    const { runId } = started.body
    await until(
      'the run under way',
      async () => existsSync(scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`)) || undefined,
      30_000,
    )
    relay.cut(8000)
    await until('the agent offline', async () => (await state()) === 'offline' || undefined, 10_000)
    const during = await runOf(runId)
    expect(during).toMatchObject({ status: 'pending', agentUnreachable: 'site-b' })
    const points = await admin.request<Failure>('GET', `/api/repositories/${repoId}/points`)
    expect(points.status).toBe(503)
    expect(points.body.error).toMatchObject({
      code: 'AGENT_UNREACHABLE',
      message: expect.stringContaining("agent 'site-b'"),
    })
    const gc = await admin.request<Failure>('POST', `/api/repositories/${repoId}/maintenance/gc/run`)
    expect(gc.status).toBe(409)
    expect(gc.body.error).toMatchObject({
      code: 'AGENT_OFFLINE',
      message: expect.stringContaining("agent 'site-b'"),
    })
    const add = await admin.request<Failure>('POST', '/api/repositories', {
      name: 'later',
      location: scratch.path('later'),
      init: true,
      agentId: agent.id,
    })
    expect(add.status).toBe(503)
    expect(add.body.error.code).toBe('AGENT_UNREACHABLE')
    const assign = await admin.request<Failure>('PUT', `/api/repositories/${repoId}/agent`, {
      agentId: agent.id,
    })
    expect(assign.status).toBe(503)
    // The link back: the run ends green, and is no longer said unreachable.
    const run = await ended(runId)
    expect(run.status, JSON.stringify(run)).toBe('success')
    expect(run.agentUnreachable).toBeUndefined()
    untouched()
  })

  it('assigns a repository of the server to the agent once the agent opens the same one, and back', async () => {
    const shared = await admin.request<{ id: string }>('POST', '/api/repositories', {
      name: 'shared',
      location: scratch.path('shared'),
      init: true,
    })
    expect(shared.status).toBe(201)
    const id = shared.body.id
    const put = await admin.request('PUT', `/api/repositories/${id}/agent`, { agentId: agent.id })
    expect(put).toEqual({ status: 200, body: { repositoryId: id, agentId: agent.id } })
    expect((await admin.request('GET', `/api/repositories/${id}`)).body).toMatchObject({ agentId: agent.id })
    expect((await admin.request<unknown[]>('GET', `/api/repositories/${id}/points`)).body).toEqual([])
    // Another agent (offline) and an unknown one.
    const other = (await admin.request<{ id: string }>('POST', '/api/agents', { name: 'other' })).body
    expect(
      (await admin.request<Failure>('PUT', `/api/repositories/${id}/agent`, { agentId: other.id })).status,
    ).toBe(503)
    expect((await admin.request('PUT', `/api/repositories/${id}/agent`, { agentId: 'a-nope' })).status).toBe(
      404,
    )
    const back = await admin.request('PUT', `/api/repositories/${id}/agent`, { agentId: null })
    expect(back).toEqual({ status: 200, body: { repositoryId: id, agentId: null } })
    expect((await admin.request('GET', `/api/repositories/${id}`)).body).not.toHaveProperty('agentId')
  })
})
