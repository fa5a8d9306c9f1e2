// File-level restore through the API against a real server, a real repository and a real appliance: a
// whole-disk ext4 made with mke2fs -d and backed up chunk by chunk, browsed (filesystems, pages of a
// folder, a search by name) and downloaded (a file as itself, a folder as a zip and a tar.gz whose
// content equals the original). Refusals come before any appliance starts: no session, a read-only role,
// unbounded or malformed inputs, an unknown repository. One appliance serves the whole file (about
// 20 s to start under TCG); closing the session or the server leaves no guestfish behind.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore } from '@strata/core/storage'
import { ext4Image, requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { MAX_ARCHIVE_PATHS, type FileEntryView } from '@strata/contract'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'
import { MAX_FILE_SESSIONS } from '../files/file-sessions.js'

const exec = promisify(execFile)
const BOOT = 300_000
const random = randomBytes(1024 * 1024 + 7)

let scratch: Scratch
let server: RunningServer
let admin: ApiClient
let base: string
/** Other points of the same repository: random bytes (no filesystem), and a copy of the ext4 disk. */
let noiseBase: string
let thirdBase: string

async function backUp(image: string): Promise<string> {
  const repo = await Repository.open(new LocalStore(scratch.path('repo'))).catch(() =>
    Repository.create(new LocalStore(scratch.path('repo'))),
  )
  const raw = await readFile(image)
  const point = await PointWriter.begin(repo, { vm: 'files', metadata: { vm: { name_label: 'files' } } })
  const disk = point.openDisk('xvda', raw.length)
  for (let i = 0; i < disk.chunkCount; i++)
    await disk.putChunk(i, raw.subarray(i * repo.chunkSize, i * repo.chunkSize + disk.chunkLength(i)))
  return (await point.commit()).pointId
}

/** A GET with the admin's session and a timeout long enough for an appliance to start. */
const get = (path: string, cookie = admin.cookie!) =>
  fetch(`${base}${path}`, { headers: { cookie }, signal: AbortSignal.timeout(BOOT) })
const json = async (path: string) => {
  const response = await get(path)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of several shapes, checked field by field
  return { status: response.status, body: (await response.json()) as any }
}

beforeAll(async () => {
  for (const tool of ['mke2fs', 'guestfish', 'unzip', 'tar']) requireBinary(tool)
  scratch = await scratchDir('strata-server-files-')
  const image = await ext4Image(scratch, {
    'docs/report.txt': 'quarterly figures\n',
    'docs/deep/Report-old.txt': 'last year\n',
    'data.bin': random,
    escape: { symlink: '/etc' },
  })
  const pointId = await backUp(image)
  await writeFile(scratch.path('noise.raw'), randomBytes(4 * 1024 * 1024))
  const noiseId = await backUp(scratch.path('noise.raw'))
  const thirdId = await backUp(image)
  server = await startTestServer(scratch, { adminPassword: 'admin-password' })
  admin = new ApiClient(server.url)
  await admin.login('admin', 'admin-password')
  const created = await admin.post('/api/repositories', { name: 'local', location: scratch.path('repo') })
  expect(created.status).toBe(201)
  base = `${server.url}/api/repositories/${created.body.id}/points/${pointId}/disks/0`
  noiseBase = base.replace(pointId, noiseId)
  thirdBase = base.replace(pointId, thirdId)
}, 120_000)
afterAll(async () => {
  await server?.close()
  await scratch?.[Symbol.asyncDispose]()
})

describe('file-level restore through the API', () => {
  it('refuses, before starting anything, whoever may not read files and every unbounded input', async () => {
    expect((await fetch(`${base}/filesystems`)).status).toBe(401)
    await admin.post('/api/users', { username: 'ro', password: 'ro-password', role: 'read-only' })
    const reader = new ApiClient(server.url)
    await reader.login('ro', 'ro-password')
    expect((await get('/filesystems', reader.cookie)).status).toBe(403)
    expect((await get('/files/download?path=/data.bin', reader.cookie)).status).toBe(403)
    const refused = async (path: string) => (await json(path)).body.error.code as string
    expect(await refused('/files?path=relative')).toBe('INVALID_REQUEST')
    expect(await refused(`/files?path=/${'a'.repeat(4100)}`)).toBe('INVALID_REQUEST')
    expect(await refused('/files?path=/&limit=123456')).toBe('INVALID_REQUEST')
    expect(await refused('/files?path=/&extra=1')).toBe('INVALID_REQUEST')
    expect(await refused('/files/search?q=a/b')).toBe('INVALID_REQUEST')
    expect(await refused('/files/download?path=/&format=rar')).toBe('INVALID_REQUEST')
    const many = Array.from({ length: MAX_ARCHIVE_PATHS + 1 }, (_, i) => `path=/f${i}`).join('&')
    expect(await refused(`/files/download?${many}`)).toBe('INVALID_REQUEST')
    const unknown = base.replace(/repositories\/[^/]+/, 'repositories/no-such-repo')
    expect((await fetch(`${unknown}/filesystems`, { headers: { cookie: admin.cookie! } })).status).toBe(404)
    expect(server.context.files.size).toBe(0) // no appliance was started for any of these
  })

  it('lists the filesystems and a folder a page at a time', { timeout: BOOT }, async () => {
    const fss = await json('/filesystems')
    expect(fss.status, JSON.stringify(fss.body)).toBe(200)
    expect(fss.body.accelerator).toMatch(/^(kvm|tcg)$/)
    expect(fss.body.filesystems).toEqual([
      { device: '/dev/sda', type: 'ext4', label: 'data', size: 32 << 20 },
    ])
    const first = await json('/files?path=/&limit=2')
    expect(first.body).toMatchObject({ fs: '/dev/sda', path: '/', total: 4, nextOffset: 2 })
    expect(first.body.entries.map((e: FileEntryView) => e.name)).toEqual(['data.bin', 'docs'])
    const rest = await json('/files?path=/&offset=2&limit=10')
    expect(rest.body.entries.map((e: FileEntryView) => [e.name, e.type, e.target])).toEqual([
      ['escape', 'symlink', '/etc'],
      ['lost+found', 'directory', undefined],
    ])
    expect(rest.body.nextOffset).toBeUndefined()
  })

  it('finds entries by name at any depth, case-insensitively', { timeout: BOOT }, async () => {
    const found = await json('/files/search?q=REPORT')
    expect(found.status).toBe(200)
    expect(found.body.entries.map((e: FileEntryView) => e.path)).toEqual([
      '/docs/deep/Report-old.txt',
      '/docs/report.txt',
    ])
    expect(found.body.total).toBe(2)
    expect((await json('/files/search?q=report&limit=1')).body).toMatchObject({ total: 2 })
  })

  it('gives the bad paths their own errors', { timeout: BOOT }, async () => {
    const missing = await json('/files?path=/docs/nothing')
    expect([missing.status, missing.body.error.code]).toEqual([404, 'PATH_NOT_FOUND'])
    const through = await json('/files?path=/escape/passwd')
    expect([through.status, through.body.error.code]).toEqual([400, 'SYMLINK_NOT_FOLLOWED'])
    const noFs = await json('/files?path=/&fs=/dev/sdz')
    expect([noFs.status, noFs.body.error.code]).toEqual([404, 'FILESYSTEM_NOT_FOUND'])
    const gone = await json('/files/download?path=/nothing.txt')
    expect([gone.status, gone.body.error.code]).toEqual([404, 'PATH_NOT_FOUND'])
  })

  it('downloads a file as itself', { timeout: BOOT }, async () => {
    const response = await get('/files/download?path=/data.bin')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-disposition')).toContain('filename="data.bin"')
    expect(response.headers.get('content-length')).toBe(String(random.length))
    expect(Buffer.from(await response.arrayBuffer()).equals(random)).toBe(true)
  })

  it('downloads a folder and a file as a zip, and as a tar.gz', { timeout: BOOT }, async () => {
    const zip = await get('/files/download?path=/docs&path=/data.bin&format=zip')
    expect(zip.status).toBe(200)
    expect(zip.headers.get('content-type')).toBe('application/zip')
    await writeFile(scratch.path('out.zip'), Buffer.from(await zip.arrayBuffer()))
    await exec('unzip', ['-q', scratch.path('out.zip'), '-d', scratch.path('unzipped')])
    expect(await readFile(scratch.path('unzipped/docs/report.txt'), 'utf8')).toBe('quarterly figures\n')
    expect(await readFile(scratch.path('unzipped/docs/deep/Report-old.txt'), 'utf8')).toBe('last year\n')
    expect((await readFile(scratch.path('unzipped/data.bin'))).equals(random)).toBe(true)
    const tgz = await get('/files/download?path=/docs&format=tar.gz')
    expect(tgz.headers.get('content-disposition')).toContain('filename="docs.tar.gz"')
    await writeFile(scratch.path('out.tar.gz'), Buffer.from(await tgz.arrayBuffer()))
    await mkdir(scratch.path('untarred'))
    await exec('tar', ['-xzf', scratch.path('out.tar.gz'), '-C', scratch.path('untarred')])
    expect(await readFile(scratch.path('untarred/docs/report.txt'), 'utf8')).toBe('quarterly figures\n')
  })

  it('refuses a disk with no filesystem, and a session past the bound', { timeout: BOOT }, async () => {
    const noise = await fetch(`${noiseBase}/filesystems`, {
      headers: { cookie: admin.cookie! },
      signal: AbortSignal.timeout(BOOT),
    })
    const body = (await noise.json()) as { error: { code: string } }
    expect([noise.status, body.error.code]).toEqual([422, 'NO_FILESYSTEM'])
    expect(server.context.files.size).toBe(MAX_FILE_SESSIONS) // this one, and the ext4 disk's
    const third = await fetch(`${thirdBase}/filesystems`, { headers: { cookie: admin.cookie! } })
    expect(third.status).toBe(503)
    expect(third.headers.get('retry-after')).toBe('60')
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_FILE_SESSIONS')
    const path = noiseBase.slice(server.url.length) + '/files'
    expect((await admin.delete(path)).status).toBe(204)
    expect(server.context.files.size).toBe(MAX_FILE_SESSIONS - 1)
  })

  it('ends the session on DELETE: its appliance is stopped', { timeout: BOOT }, async () => {
    const session = await server.context.files.get({
      repositoryId: base.split('/')[5]!,
      pointId: base.split('/')[7]!,
      disk: 0,
    })
    const pid = session.pid!
    expect(() => process.kill(pid, 0)).not.toThrow()
    expect((await admin.delete(base.slice(server.url.length) + '/files')).status).toBe(204)
    expect(server.context.files.size).toBe(0)
    expect(() => process.kill(pid, 0)).toThrow()
  })
})
