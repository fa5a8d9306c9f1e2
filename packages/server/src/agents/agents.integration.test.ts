// Agents against a real HTTPS server: created by an admin, connected over the pinned link, listed with
// their state; and the bad paths: a wrong fingerprint (nothing sent), a revoked token (the live link is
// dropped at once, the next one refused), another protocol version (refused, said on both sides),
// anonymous and malformed links.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createServer } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { sleep } from '@strata/core'
import { runAgent, AGENT_CONNECT_PATH, AGENT_PROTOCOL_VERSION, CLOSE_INVALID } from '@strata/core/agent'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { makeSelfSignedCertificate } from '@strata/core/testing/tls'
import type { RunningServer } from '../start-server.js'
import { startTestServer } from '../testing/test-server.js'
import { pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'

describe('agents', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: PinnedAdmin
  const serverLog: string[] = []

  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir('strata-agents-')
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
      echo: (line) => serverLog.push(line),
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const create = async (name: string) => {
    const created = await admin.request('POST', '/api/agents', { name })
    expect(created.status).toBe(201)
    return created.body as { id: string; token: string; serverUrl: string; fingerprint: string }
  }
  const listed = async (id: string) =>
    ((await admin.request('GET', '/api/agents')).body as { id: string; state: string }[]).find(
      (a) => a.id === id,
    )
  const until = async (what: string, probe: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(50)
    }
  }
  const start = (agent: { token: string; serverUrl: string; fingerprint: string }, extra = {}) => {
    const controller = new AbortController()
    const lines: string[] = []
    const done = runAgent({
      serverUrl: agent.serverUrl,
      token: agent.token,
      fingerprint: agent.fingerprint,
      dataDir: scratch.path('agent'),
      version: '0.1.0',
      name: 'site-b',
      signal: controller.signal,
      log: (line) => lines.push(line),
      backoff: { minMs: 50, maxMs: 200 },
      ...extra,
    })
    return { controller, done, lines }
  }

  it('creates an agent (its token shown once), which connects and is listed online', async () => {
    const agent = await create('site-b')
    expect(agent).toMatchObject({ serverUrl: server.url, fingerprint: server.tlsFingerprint })
    expect(agent.token).toMatch(/^strata_agent_/)
    expect(await listed(agent.id)).toEqual({
      id: agent.id,
      name: 'site-b',
      state: 'offline',
      version: null,
      lastSeen: null,
      pools: [],
      repositories: [],
    })
    expect(JSON.stringify((await admin.request('GET', '/api/agents')).body)).not.toContain(agent.token)
    const running = start(agent)
    await until('the agent online', async () => (await listed(agent.id))?.state === 'online')
    expect(await listed(agent.id)).toMatchObject({ version: '0.1.0', lastSeen: expect.any(Number) })
    running.controller.abort()
    await running.done
    await until('the agent offline', async () => (await listed(agent.id))?.state === 'offline')
    expect((await admin.request('POST', '/api/agents', { name: 'site-b' })).status).toBe(409)
    expect((await admin.request('POST', '/api/agents', { name: 'x', extra: 1 })).status).toBe(400)
  })

  it('refuses a server whose certificate is not the pinned one, having sent it nothing', async () => {
    const agent = await create('pinned')
    // A server in the middle with a certificate of its own, that counts what it receives.
    const other = await makeSelfSignedCertificate(scratch.path('mitm'), 'mitm', { commonName: '127.0.0.1' })
    let received = 0
    const mitm = createServer({ cert: other.cert, key: other.key }, (socket) => {
      socket.on('data', (d: Buffer) => (received += d.length))
      socket.on('error', () => undefined)
    })
    await new Promise<void>((resolve) => mitm.listen(0, '127.0.0.1', resolve))
    const port = (mitm.address() as AddressInfo).port
    try {
      const { done } = start({ ...agent, serverUrl: `https://127.0.0.1:${port}` })
      await expect(done).rejects.toMatchObject({
        code: 'AGENT_CERTIFICATE_MISMATCH',
        retryable: false,
        message: expect.stringMatching(/not the pinned .*nothing was sent/),
      })
      await sleep(200)
      expect(received).toBe(0)
    } finally {
      mitm.close()
    }
    expect((await listed(agent.id))?.state).toBe('offline')
  })

  it('drops a revoked agent at once and refuses its token afterwards', async () => {
    const agent = await create('revoked')
    const running = start(agent)
    await until('online', async () => (await listed(agent.id))?.state === 'online')
    expect((await admin.request('DELETE', `/api/agents/${agent.id}`)).status).toBe(204)
    await expect(running.done).rejects.toMatchObject({ code: 'AGENT_REVOKED' })
    const again = start(agent)
    await expect(again.done).rejects.toMatchObject({ code: 'AGENT_UNAUTHORIZED' })
    expect(await listed(agent.id)).toBeUndefined()
  })

  it('refuses an agent of another protocol version, saying so on both sides', async () => {
    // An agent of the version before (which would not know the requests added since) and one after.
    for (const [name, protocol] of [
      ['older', AGENT_PROTOCOL_VERSION - 1],
      ['newer', AGENT_PROTOCOL_VERSION + 1],
    ] as const) {
      const agent = await create(name)
      const { done } = start(agent, { protocol })
      await expect(done).rejects.toMatchObject({
        code: 'AGENT_PROTOCOL_UNSUPPORTED',
        message: `the server refused this agent: this server speaks agent protocol ${AGENT_PROTOCOL_VERSION}, the agent (version 0.1.0) speaks ${protocol}: install the agent of the server's version`,
      })
      expect(serverLog.join('\n')).toContain(
        `agent '${name}' refused: this server speaks agent protocol ${AGENT_PROTOCOL_VERSION}, the agent (version 0.1.0) speaks ${protocol}`,
      )
      expect((await listed(agent.id))?.state).toBe('offline')
    }
  })

  it('refuses an anonymous or user-authenticated link and drops one that sends malformed messages', async () => {
    const agent = await create('malformed')
    const closes: number[] = []
    for (const [auth, frames] of [
      ['Bearer nope', []],
      [
        `Bearer ${agent.token}`,
        ['{"type":"event","runId":"r-1","seq":1,"event":{"type":"end","id":"0","time":1}}'],
      ],
      [
        `Bearer ${agent.token}`,
        [
          `{"type":"hello","protocol":${AGENT_PROTOCOL_VERSION},"version":"0.1.0","session":"s1"}`,
          'not json',
        ],
      ],
      [
        `Bearer ${agent.token}`,
        [
          `{"type":"hello","protocol":${AGENT_PROTOCOL_VERSION},"version":"0.1.0","session":"s1"}`,
          '{"type":"done","runId":"not-followed","seq":1,"result":{"runId":"not-followed","status":"success","vms":[]}}',
          'not json either',
        ],
      ],
    ] as const) {
      const ws = new WebSocket(`${server.url.replace('https', 'wss')}${AGENT_CONNECT_PATH}`, {
        headers: { authorization: auth },
        rejectUnauthorized: false,
      })
      const status = await new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0)
          ws.terminate()
        })
        ws.on('open', () => frames.forEach((f) => ws.send(f)))
        ws.on('close', (code) => resolve(code))
        ws.on('error', () => undefined)
      })
      closes.push(status)
    }
    expect(closes).toEqual([401, CLOSE_INVALID, CLOSE_INVALID, CLOSE_INVALID])
    expect(serverLog.join('\n')).toMatch(/agent 'malformed' dropped: invalid agent message: not JSON/)
    // A run the server does not follow (it restarted since): acknowledged and ignored, the link stays.
    expect(serverLog.join('\n')).toMatch(
      /agent 'malformed' reports on run 'not-followed', which this server does not follow: ignored/,
    )
    expect(serverLog.join('\n')).toMatch(/agent 'malformed' dropped: invalid agent message: not JSON/)
  })

  it('lets only admins manage agents', async () => {
    expect(
      (
        await admin.request('POST', '/api/users', {
          username: 'op',
          password: 'operator-password',
          role: 'operator',
        })
      ).status,
    ).toBe(201)
    const operator = await pinnedAdmin(server.url, server.tlsFingerprint!, 'operator-password', 'op')
    expect((await operator.request('POST', '/api/agents', { name: 'nope' })).status).toBe(403)
    expect((await operator.request('GET', '/api/agents')).status).toBe(200)
  })
})
