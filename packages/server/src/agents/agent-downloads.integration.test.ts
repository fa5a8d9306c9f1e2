// Downloads of points of a repository assigned to an agent (`PUT /api/repositories/:id/agent`),
// streamed from the agent (the built CLI's `strata agent`) through the server: the VHD is byte-identical
// to the one the server makes of the same point itself, and the server does not open the repository for
// it; a slow client holds the agent back (the server's buffers hold less than a quarter of the disk
// while the client waits); an agent killed mid-download ends the HTTP answer short (the client sees an
// error, never a short file that looks whole); an unknown point is the agent's 404; a NAS remote is
// mounted under the agent's data directory (not its user's home); an offline agent is
// a 409; a stream opened for an id the server never issued is dropped.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { sleep } from '@strata/core'
import { AGENT_DOWNLOAD_PATH, CLOSE_INVALID } from '@strata/core/agent'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { httpsRequest } from '../testing/https-client.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { cliAgentBuilt, startCliAgent, type CliAgent } from './testing/cli-agent.js'

const MiB = 1024 * 1024
const DISK = 64 * MiB

describe('downloads from an agent', { timeout: 180_000 }, () => {
  let scratch: Scratch
  let server: RunningServer
  let cookie: string
  let agent: { id: string; token: string; serverUrl: string; fingerprint: string }
  let cli: CliAgent | undefined
  let repoId: string
  let pointId: string
  let raw: Buffer
  /** The server's own VHD of the point, for its length (a VHD's footer holds a time and a random id). */
  let expected: Buffer

  /** A GET through the server as a browser would, the certificate pinned; the answer left unread. */
  const get = (path: string): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = request(
        `${server.url}${path}`,
        { rejectUnauthorized: false, agent: false, headers: { cookie } },
        (res) => {
          const seen = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
          if (seen !== server.tlsFingerprint) return reject(new Error(`certificate ${seen}`))
          resolve(res)
        },
      )
      req.on('error', reject)
      req.end()
    })
  /** The whole answer's bytes; rejects when it ends with an error (cut short). */
  const body = (res: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('error', reject)
      res.on('aborted', () => reject(new Error('aborted')))
      res.on('end', () => (res.complete ? resolve(Buffer.concat(parts)) : reject(new Error('incomplete'))))
    })
  const api = async <T>(method: string, path: string, json?: unknown) => {
    const a = await httpsRequest(
      `${server.url}${path}`,
      { pin: server.tlsFingerprint! },
      { method, body: json, headers: { cookie, 'x-strata-request': '1' } },
    )
    return { status: a.status, body: (a.body === '' ? undefined : JSON.parse(a.body)) as T }
  }
  const diskPath = () => `/api/repositories/${repoId}/points/${pointId}/disks/0.vhd`
  const online = async () =>
    (await api<{ state: string }[]>('GET', '/api/agents')).body[0]?.state === 'online' || undefined

  beforeAll(async () => {
    expect(cliAgentBuilt(), 'npm run build first').toBe(true)
    scratch = await scratchDir('strata-agent-downloads-')
    // A disk of random data with a zero hole, at site B.
    requireBinary('qemu-img')
    raw = randomBytes(DISK)
    raw.fill(0, 8 * MiB, 12 * MiB)
    const repo = await Repository.create(new LocalStore(scratch.path('site-b-repo')))
    const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { vm: { name_label: 'web-b' } } })
    const disk = point.openDisk('xvda', DISK)
    for (let i = 0; i < disk.chunkCount; i++)
      await disk.putChunk(i, raw.subarray(i * repo.chunkSize, i * repo.chunkSize + disk.chunkLength(i)))
    pointId = (await point.commit()).pointId
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    const login = await httpsRequest(
      `${server.url}/api/auth/login`,
      { pin: server.tlsFingerprint! },
      { method: 'POST', body: { username: 'admin', password: 'admin-password' } },
    )
    cookie = String(login.headers['set-cookie']).split(';')[0]!
    repoId = (await api<{ id: string }>('POST', '/api/repositories', { name: 'at-b', location: scratch.path('site-b-repo') }))
      .body.id // prettier-ignore
    agent = (await api<typeof agent>('POST', '/api/agents', { name: 'site-b' })).body
    cli = startCliAgent(agent, scratch.path('agent'), 'site-b')
    await until('the agent online', online, 30_000)
    // While the repository is the server's, the server reads the point itself.
    const local = await get(diskPath())
    expect(local.statusCode).toBe(200)
    expected = await body(local)
    // The repository assigned to the agent: from then on only the agent opens it.
    const assigned = await api('PUT', `/api/repositories/${repoId}/agent`, { agentId: agent.id })
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200)
  })
  afterAll(async () => {
    await cli?.stop()
    await server?.close().catch(() => undefined)
    await scratch?.[Symbol.asyncDispose]()
  })

  it('streams the VHD from the agent, byte-identical to the point, without opening the repository', async () => {
    const service = server.context.repositoryService
    const open = service.open.bind(service)
    let opened = 0
    service.open = (...args) => {
      // Opens by the download route only (a background measure of the repository's usage is no download).
      if (new Error().stack?.includes('disk-download') === true) opened++
      return open(...args)
    }
    try {
      const res = await get(diskPath())
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-length']).toBe(String(expected.length))
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename=".*-disk0\.vhd"$/)
      await writeFile(scratch.path('from-agent.vhd'), await body(res))
      execFileSync('qemu-img', [
        'convert',
        '-f',
        'vpc',
        '-O',
        'raw',
        scratch.path('from-agent.vhd'),
        scratch.path('from-agent.raw'),
      ])
      expect((await readFile(scratch.path('from-agent.raw'))).equals(raw)).toBe(true)
      expect(opened).toBe(0)
    } finally {
      service.open = open
    }
  })

  it('answers an unknown point with the agent’s refusal, before any byte', async () => {
    const res = await get(`/api/repositories/${repoId}/points/nope/disks/0.vhd`)
    const text = (await body(res)).toString()
    expect(res.statusCode, text).toBe(404)
    expect(JSON.parse(text).error).toMatchObject({
      code: 'POINT_NOT_FOUND',
      message: expect.stringMatching(/nope/),
    })
  })

  it("mounts a NAS remote under the agent's data directory for a download", async () => {
    // No SMB password: the mount stops before any command runs, after its mount point is made.
    const location = scratch.path('site-b-repo')
    await server.context.repositories.update(repoId, { location: 'smb://backup@127.0.0.1/share/strata' })
    try {
      const res = await get(diskPath())
      expect(res.statusCode).not.toBe(200)
      expect((await body(res)).toString()).toMatch(/STRATA_SMB_PASSWORD/)
      expect(readdirSync(scratch.path('agent', 'mounts'))).toEqual(
        expect.arrayContaining([expect.stringMatching(/^smb-127\.0\.0\.1-[0-9a-f]+$/)]),
      )
    } finally {
      await server.context.repositories.update(repoId, { location })
    }
  })

  it('drops a download stream opened for an id the server never issued', async () => {
    const ws = new WebSocket(`${server.url.replace('https', 'wss')}${AGENT_DOWNLOAD_PATH}${'A'.repeat(43)}`, {
      headers: { authorization: `Bearer ${agent.token}` },
      rejectUnauthorized: false,
    })
    expect(await new Promise<number>((resolve) => ws.on('close', resolve))).toBe(CLOSE_INVALID)
  })

  it('ends the answer short with an error when the agent dies mid-download', async () => {
    const res = await get(diskPath())
    expect(res.statusCode).toBe(200)
    const length = Number(res.headers['content-length'])
    // Take a little, then stop reading: the agent is held back, the download is in the middle.
    let received = 0
    let holding = true
    res.on('data', (d: Buffer) => {
      received += d.length
      if (holding && received >= 2 * MiB) res.pause()
    })
    const outcome = body(res).then(
      () => 'complete',
      (error: Error) => `failed: ${error.message}`,
    )
    await until('bytes received', () => (received >= 2 * MiB ? true : undefined), 30_000)
    // Held back for 2 s: without backpressure the agent would have sent the whole disk to the server by
    // then; with it, what the server took beyond what the client did is a few socket buffers.
    await sleep(2000)
    const [streaming] = [...server.context.agentDownloads.streaming]
    expect(streaming, 'the download, still streaming from the agent').toBeDefined()
    expect(streaming!.received - received).toBeLessThan(16 * MiB)
    expect(received).toBeLessThan(length)
    await cli!.stop('SIGKILL')
    holding = false
    res.resume()
    expect(await outcome).toMatch(/^failed/)
    expect(received).toBeLessThan(length)
  })

  it('refuses a download while the agent is offline, naming it', async () => {
    await until('the agent offline', async () => ((await online()) === undefined ? true : undefined), 15_000)
    const res = await get(diskPath())
    const answer = JSON.parse((await body(res)).toString()) as { error: { code: string; message: string } }
    expect(res.statusCode).toBe(409)
    expect(answer.error).toMatchObject({
      code: 'AGENT_OFFLINE',
      message: expect.stringContaining("agent 'site-b'"),
    })
  })
})
