// File-level restore from a repository assigned to an agent (the built CLI's `strata agent`): the
// appliance runs on the agent (its log says it started; the server starts none), browsing answers as the
// server's own routes do, and downloads are streamed from the agent through the server: one file as
// itself with its length, a folder as a tar.gz whose content equals the original. A path that is not
// there is the agent's 404 before any byte, and so is an unknown point (before any appliance starts);
// the end of the session closes the agent's appliance.
import { execFile } from 'node:child_process'
import type { IncomingHttpHeaders } from 'node:http'
import { request } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { ext4Image, requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { httpsRequest } from '../testing/https-client.js'
import { startTestServer } from '../testing/test-server.js'
import { until } from '../testing/lab-job.js'
import { agentOnline, cliAgentBuilt, type CliAgent } from './testing/cli-agent.js'
import { pinnedAdmin, type PinnedAdmin } from './testing/pinned-admin.js'

const exec = promisify(execFile)
const random = randomBytes(1024 * 1024 + 7)

describe('file restore from an agent’s repository', { timeout: 300_000 }, () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: PinnedAdmin
  let cli: CliAgent | undefined
  let base: string

  let cookie: string

  /** A request of the point's disk's routes, its body as bytes; long enough for an appliance to start. */
  const bytes = (path: string, method = 'GET', at = base) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const headers = { cookie, 'x-strata-request': '1' }
      const options = {
        method,
        rejectUnauthorized: false,
        agent: false,
        headers,
        signal: AbortSignal.timeout(290_000),
      }
      const req = request(`${server.url}${at}${path}`, options, (res) => {
        const seen = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
        if (seen !== server.tlsFingerprint) return reject(new Error(`certificate ${seen}`))
        const parts: Buffer[] = []
        res.on('data', (d: Buffer) => parts.push(d))
        res.on('error', reject)
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
        )
      })
      req.on('error', reject)
      req.end()
    })
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of several shapes, checked field by field
  const json = async (path: string): Promise<{ status: number; body: any }> => {
    const answer = await bytes(path)
    return { status: answer.status, body: JSON.parse(answer.body.toString()) }
  }

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'guestfish', 'tar', 'openssl']) requireBinary(tool)
    expect(cliAgentBuilt(), 'npm run build first').toBe(true)
    scratch = await scratchDir('strata-agent-files-')
    const image = await ext4Image(scratch, {
      'docs/report.txt': 'quarterly figures\n',
      'docs/deep/Report-old.txt': 'last year\n',
      'data.bin': random,
    })
    // The point, at site B.
    const repo = await Repository.create(new LocalStore(scratch.path('site-b-repo')))
    const raw = await readFile(image)
    const point = await PointWriter.begin(repo, { vm: 'files', metadata: { vm: { name_label: 'files' } } })
    const disk = point.openDisk('xvda', raw.length)
    for (let i = 0; i < disk.chunkCount; i++)
      await disk.putChunk(i, raw.subarray(i * repo.chunkSize, i * repo.chunkSize + disk.chunkLength(i)))
    const { pointId } = await point.commit()

    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      tls: 'self-signed',
      host: '127.0.0.1',
    })
    admin = await pinnedAdmin(server.url, server.tlsFingerprint!, 'admin-password')
    const login = await httpsRequest(
      `${server.url}/api/auth/login`,
      { pin: server.tlsFingerprint! },
      { method: 'POST', body: { username: 'admin', password: 'admin-password' } },
    )
    cookie = String(login.headers['set-cookie']).split(';')[0]!
    const started = await agentOnline(admin, scratch.path('agent'))
    cli = started.cli
    const agent = started.agent
    const created = await admin.request<{ id: string }>('POST', '/api/repositories', {
      name: 'at-b',
      location: scratch.path('site-b-repo'),
      agentId: agent.id,
    })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    base = `/api/repositories/${created.body.id}/points/${pointId}/disks/0`
  })
  afterAll(async () => {
    await cli?.stop()
    await server?.close().catch(() => undefined)
    await scratch?.[Symbol.asyncDispose]()
  })

  it('asks the agent, which refuses an unknown point before starting anything', async () => {
    const unknown = base.replace(/points\/[^/]+/, 'points/no-such-point')
    const browse = await bytes(`/filesystems`, 'GET', unknown)
    expect(browse.status).toBe(404)
    expect(JSON.parse(browse.body.toString()).error).toMatchObject({
      code: 'POINT_NOT_FOUND',
      message: expect.stringContaining("agent 'site-b'"),
    })
    const download = await bytes('/files/download?path=/data.bin', 'GET', unknown)
    expect(download.status).toBe(404)
    expect(JSON.parse(download.body.toString()).error.code).toBe('POINT_NOT_FOUND')
    expect(server.context.files.size).toBe(0)
  })

  it('browses the point’s filesystems on the agent', async () => {
    const fss = await json('/filesystems')
    expect(fss.status, JSON.stringify(fss.body)).toBe(200)
    expect(fss.body.filesystems).toEqual([
      { device: '/dev/sda', type: 'ext4', label: 'data', size: 32 << 20 },
    ])
    expect(cli!.said()).toMatch(/file restore of disk 0 of \S+: appliance started in/)
    expect(server.context.files.size).toBe(0) // the server started no appliance of its own
    const page = await json('/files?path=/&limit=2')
    expect(page.body).toMatchObject({ fs: '/dev/sda', path: '/', total: 3, nextOffset: 2 })
    expect(page.body.entries.map((e: { name: string }) => e.name)).toEqual(['data.bin', 'docs'])
    const found = await json('/files/search?q=report')
    expect(found.body.entries.map((e: { path: string }) => e.path)).toEqual([
      '/docs/deep/Report-old.txt',
      '/docs/report.txt',
    ])
    const missing = await json('/files?path=/nowhere')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('PATH_NOT_FOUND')
  })

  it('downloads a file as itself and a folder as a tar.gz, streamed from the agent', async () => {
    const file = await bytes('/files/download?path=/data.bin')
    expect(file.status).toBe(200)
    expect(file.headers['content-length']).toBe(String(random.length))
    expect(file.body.equals(random)).toBe(true)
    const archive = await bytes('/files/download?path=/docs&format=tar.gz')
    expect(archive.status).toBe(200)
    expect(archive.headers['content-type']).toBe('application/gzip')
    await writeFile(scratch.path('docs.tar.gz'), archive.body)
    await mkdir(scratch.path('out'))
    await exec('tar', ['-xzf', scratch.path('docs.tar.gz'), '-C', scratch.path('out')])
    expect(await readFile(scratch.path('out/docs/report.txt'), 'utf8')).toBe('quarterly figures\n')
    expect(await readFile(scratch.path('out/docs/deep/Report-old.txt'), 'utf8')).toBe('last year\n')
    const missing = await bytes('/files/download?path=/nowhere.txt')
    expect(missing.status).toBe(404)
  })

  it('closes the agent’s session when the user is done', async () => {
    const appliance = () =>
      exec('pgrep', ['-f', '-P', String(cli!.process.pid), 'guestfish']).then(
        () => true,
        () => false,
      )
    expect((await bytes('/files', 'DELETE')).status).toBe(204)
    await until('no guestfish under the agent', async () => ((await appliance()) ? undefined : true), 30_000)
  })
})
