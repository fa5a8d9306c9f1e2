// A job whose pool belongs to an agent runs on the agent, in a worker process there, against the real
// lab pool and a local repository: the run reads the same through the API as a local one (summary,
// task tree), its log is on both sides, and the restore point is in the repository. An agent that is
// offline makes the run refuse to start, saying which agent. A link cut in the middle of a run (every
// connection of a TCP relay between the agent and the server destroyed): the run goes on, the agent
// connects again and sends what the dead link lost, and the server has every event exactly once.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { AGENT_CONNECT_PATH, AGENT_PROTOCOL_VERSION, CLOSE_INVALID, runAgent } from '@strata/core/agent'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import type { RunningServer } from '../start-server.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { addSitePool, pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'
import { startRelay, type TcpRelay } from './testing/tcp-relay.js'

describe('runs on an agent', { timeout: 180_000 }, () => {
  let scratch: Scratch
  let lab: LabPool
  let server: RunningServer
  let admin: PinnedAdmin
  let agent: { id: string; token: string; serverUrl: string; fingerprint: string }
  let poolId: string
  let jobId: string
  let repoId: string
  const serverLog: string[] = []
  let stopAgent: AbortController | undefined
  let agentDone: Promise<void> | undefined

  let relay: TcpRelay

  const startAgent = () => {
    stopAgent = new AbortController()
    agentDone = runAgent({
      ...agent,
      serverUrl: relay.url,
      dataDir: scratch.path('agent'),
      version: '0.1.0',
      signal: stopAgent.signal,
      log: () => undefined,
      backoff: { minMs: 50, maxMs: 200 },
    })
  }
  const online = async () =>
    ((await admin.request('GET', '/api/agents')).body as { name: string; state: string }[]).find(
      (a) => a.name === 'site-b',
    )?.state === 'online' || undefined

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    scratch = await scratchDir('strata-agent-runs-')
    lab = await LabPool.start({
      diskMBps: 2, // a run of a few seconds, for the cut in its middle
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'web-b', power: 'Running', tags: ['prod'], disks: [8] }],
    })
    server = await startTestServer(scratch, {
      echo: (line) => serverLog.push(line),
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    poolId = await addSitePool(admin, lab)
    const repo = await admin.request<{ id: string }>('POST', '/api/repositories', {
      name: 'at-b',
      location: scratch.path('site-b-repo'),
      init: true,
    })
    repoId = repo.body.id
    const job = await admin.request<{ id: string }>('POST', '/api/jobs', {
      name: 'Remote',
      vms: { smart: { pools: [poolId], tags: ['prod'] } },
      repositories: [repo.body.id],
      settings: { retries: 0 },
    })
    expect(job.status).toBe(201)
    jobId = job.body.id
    agent = (await admin.request<typeof agent>('POST', '/api/agents', { name: 'site-b' })).body
    relay = await startRelay(new URL(server.url))
  })
  afterAll(async () => {
    stopAgent?.abort()
    await agentDone?.catch(() => undefined)
    relay?.close()
    await server?.close().catch(() => undefined)
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('assigns the pool to the agent: the server lets go of it and lists it under the agent', async () => {
    const put = await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: agent.id })
    expect(put).toEqual({ status: 200, body: { poolId, agentId: agent.id } })
    expect((await admin.request('GET', `/api/pools/${poolId}`)).body).toMatchObject({ connected: false })
    expect((await admin.request('GET', '/api/agents')).body).toEqual([
      expect.objectContaining({ pools: [poolId] }),
    ])
    const unknown = await admin.request('PUT', `/api/pools/${poolId}/agent`, { agentId: 'a-nope' })
    expect(unknown.status).toBe(404)
  })

  it('refuses to start a run while the agent is offline, naming it', async () => {
    const refused = await admin.request<{ error: { code: string; message: string } }>(
      'POST',
      `/api/jobs/${jobId}/run`,
    )
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({
      code: 'AGENT_OFFLINE',
      message: expect.stringContaining("agent 'site-b'"),
    })
  })

  it('runs the job on the agent; the run reads as a local one and the point is in the repository', async () => {
    startAgent()
    await until('the agent online', online, 15_000)
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    const { runId } = started.body
    const summary = await until(
      'the run',
      async () => {
        const runs = (
          await admin.request<{ runId: string; status: string }[]>('GET', `/api/runs?job=${jobId}`)
        ).body
        return runs.find((r) => r.runId === runId && r.status !== 'pending')
      },
      120_000,
    )
    expect(summary.status).toBe('success')
    const tree = (
      await admin.request<{ status: string; children: { name: string; status: string }[] }>(
        'GET',
        `/api/runs/${runId}`,
      )
    ).body
    expect(tree.status).toBe('success')
    expect(JSON.stringify(tree)).toContain('web-b')
    // The worker ran on the agent: its own log is there, under the agent's data directory.
    expect(existsSync(scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`))).toBe(true)
    expect(existsSync(scratch.path('data', 'engine', 'runs', `${runId}.jsonl`))).toBe(true)
    const points = (await admin.request<{ vmName: string }[]>('GET', `/api/repositories/${repoId}/points`))
      .body
    expect(points).toEqual([expect.objectContaining({ vmName: 'web-b' })])
  })

  it('survives a link cut in the middle of a run: the run ends green with every event once', async () => {
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    const { runId } = started.body
    const agentLog = scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`)
    // Cut once the run is under way (its VM's task started on the agent).
    await until(
      'the run under way',
      async () => (await readFile(agentLog, 'utf8').catch(() => '')).split('\n').length > 4 || undefined,
      30_000,
    )
    expect(await readFile(agentLog, 'utf8')).not.toMatch(/"type":"end","id":"0"/)
    // Another agent cannot speak for this run: its link is dropped, the run is untouched.
    const intruder = (await admin.request<{ token: string }>('POST', '/api/agents', { name: 'intruder' }))
      .body
    const ws = new WebSocket(`${server.url.replace('https', 'wss')}${AGENT_CONNECT_PATH}`, {
      headers: { authorization: `Bearer ${intruder.token}` },
      rejectUnauthorized: false,
    })
    const closed = new Promise<number>((resolve) => ws.on('close', resolve))
    ws.on('open', () => {
      ws.send(
        JSON.stringify({ type: 'hello', protocol: AGENT_PROTOCOL_VERSION, version: '0.1.0', session: 'x' }),
      )
      ws.send(JSON.stringify({ type: 'done', runId, seq: 1, result: { runId, status: 'failure', vms: [] } }))
    })
    expect(await closed).toBe(CLOSE_INVALID)
    expect(serverLog.join('\n')).toMatch(
      `agent 'intruder' dropped: a message about run '${runId}', which is not its own`,
    )
    relay.cut(1500) // down long enough for the run to say more (kept in the agent's outbox)
    const summary = await until(
      'the run',
      async () =>
        (await admin.request<{ runId: string; status: string }[]>('GET', `/api/runs?job=${jobId}`)).body.find(
          (r) => r.runId === runId && r.status !== 'pending',
        ),
      120_000,
    )
    expect(summary.status).toBe('success')
    await until('the agent online again', online, 15_000)
    const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '')
    const there = await lines(agentLog)
    const here = await lines(scratch.path('data', 'engine', 'runs', `${runId}.jsonl`))
    // Every event of the agent's, once and in order; and the server's own lines on the link's state.
    const notes = here.filter((l) => l.includes('"agentLink"'))
    expect(here.filter((l) => !l.includes('"agentLink"'))).toEqual(there)
    expect(notes.join('\n')).toMatch(/agent 'site-b' unreachable: the run goes on there/)
    expect(notes.join('\n')).toMatch(/agent 'site-b' reachable again/)
    const tree = (
      await admin.request<{ status: string; infos: { message: string }[] }>('GET', `/api/runs/${runId}`)
    ).body
    expect(tree.status).toBe('success')
    expect(tree.infos.map((i) => i.message).join('\n')).toContain('unreachable')
  })

  it('ends a run still out on the agent as interrupted when the server stops, as a local one', async () => {
    const started = await admin.request<{ runId: string }>('POST', `/api/jobs/${jobId}/run`)
    expect(started.status).toBe(202)
    const { runId } = started.body
    await until(
      'the run under way',
      async () => existsSync(scratch.path('agent', 'engine', 'runs', `${runId}.jsonl`)) || undefined,
      30_000,
    )
    await server.close()
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    const run = (
      await admin.request<{ runId: string; status: string; error?: { code: string } }[]>(
        'GET',
        `/api/runs?job=${jobId}`,
      )
    ).body.find((r) => r.runId === runId)
    expect(run).toMatchObject({ status: 'interrupted', error: { code: 'SERVER_STOPPED' } })
  })
})
