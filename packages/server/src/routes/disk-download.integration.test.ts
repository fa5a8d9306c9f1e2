// VHD downloads against a real server and a real local repository: the disk is streamed (no temporary
// file; qemu-img reads the result back equal to the data backed up), downloads are capped in number,
// and a client that goes away stops the reading of the repository at once. Whether done or abandoned, a
// download gives its reader's memory back to the process's shared memory (shared/shared-memory.ts).
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { sharedMemory } from '@strata/core/shared'
import { PointWriter, Repository } from '@strata/core/repository'
import { LocalStore, type ObjectStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'
import { MAX_DOWNLOADS } from './disk-download.js'

const MiB = 1024 * 1024
const DISK = 48 * MiB

/** Bytes of shared memory lent and not given back: a reader left open keeps its cached chunks lent. */
const lent = (): number => sharedMemory.stats.made - sharedMemory.stats.free

/** Waits (up to 5 s: reads in flight at a stop give their memory back as they end) for `lent()` to be `bytes`. */
async function lentBackTo(bytes: number): Promise<number> {
  for (let waited = 0; lent() !== bytes && waited < 5000; waited += 50) await sleep(50)
  return lent()
}

/** Chunk reads of a store (its real methods, wrapped). */
function countChunkReads(store: ObjectStore): { reads: number } {
  const counts = { reads: 0 }
  const get = store.get.bind(store)
  const getRange = store.getRange.bind(store)
  store.get = (key, options) => {
    if (key.startsWith('chunks/')) counts.reads++
    return get(key, options)
  }
  store.getRange = (key, offset, length, options) => {
    if (key.startsWith('chunks/')) counts.reads++
    return getRange(key, offset, length, options)
  }
  return counts
}

describe('disk downloads', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  let url: string
  let raw: Buffer
  let counts: { reads: number }
  /** Chunks holding data: what reading the whole disk reads (zero chunks are not stored). */
  let dataChunks: number

  beforeAll(async () => {
    requireBinary('qemu-img')
    scratch = await scratchDir('strata-server-download-')
    // A disk of random data with a zero hole, as a VM's would be.
    raw = randomBytes(DISK)
    raw.fill(0, 8 * MiB, 12 * MiB)
    const repo = await Repository.create(new LocalStore(scratch.path('repo')))
    const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { vm: { name_label: 'web' } } })
    const disk = point.openDisk('xvda', DISK)
    dataChunks = 0
    for (let i = 0; i < disk.chunkCount; i++) {
      const bytes = raw.subarray(i * repo.chunkSize, i * repo.chunkSize + disk.chunkLength(i))
      if (bytes.some((b) => b !== 0)) dataChunks++
      await disk.putChunk(i, bytes)
    }
    const { pointId } = await point.commit()
    await writeFile(scratch.path('disk.raw'), raw)

    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    const created = await admin.post('/api/repositories', { name: 'local', location: scratch.path('repo') })
    expect(created.status).toBe(201)
    url = `${server.url}/api/repositories/${created.body.id}/points/${pointId}/disks/0.vhd`
    const opened = await server.context.repositoryService.open(created.body.id, AbortSignal.timeout(10_000))
    counts = countChunkReads(opened.store)
  }, 120_000)
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const download = (signal?: AbortSignal) => fetch(url, { headers: { cookie: admin.cookie! }, signal })
  /** `n` downloads running at once, once earlier ones (aborted by their clients) have freed their places. */
  const startDownloads = async (n: number): Promise<{ responses: Response[]; stop: () => void }> => {
    for (let attempt = 0; ; attempt++) {
      const controllers = Array.from({ length: n }, () => new AbortController())
      const responses = await Promise.all(controllers.map((c) => download(c.signal)))
      const stop = () => controllers.forEach((c) => c.abort())
      if (responses.every((r) => r.status === 200) || attempt === 100) return { responses, stop }
      stop()
      await sleep(20)
    }
  }
  const tempFiles = () => readdirSync(tmpdir()).filter((n) => n.startsWith('strata-vhd-'))

  it('streams a VHD that qemu-img reads back equal to the disk, with no temporary file', async () => {
    const before = tempFiles()
    const lentBefore = lent()
    const response = await download()
    expect(response.status).toBe(200)
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename=".*-disk0\.vhd"$/)
    const start = counts.reads
    const reader = response.body!.getReader()
    const first = await reader.read() // the first bytes come before the disk is read whole
    expect(counts.reads - start).toBeLessThan(dataChunks)
    expect(tempFiles()).toEqual(before)
    const parts = [Buffer.from(first.value!)]
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(Buffer.from(r.value))
    const vhd = Buffer.concat(parts)
    expect(vhd.length).toBe(Number(response.headers.get('content-length')))
    expect(sharedMemory.stats.made).toBeGreaterThan(0) // the download read through shared memory
    expect(await lentBackTo(lentBefore)).toBe(lentBefore)
    await writeFile(scratch.path('disk.vhd'), vhd)
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '--output=json', '-f', 'vpc', scratch.path('disk.vhd')]).toString(),
    ) as { 'virtual-size': number }
    expect(info['virtual-size']).toBeGreaterThanOrEqual(DISK)
    const compared = execFileSync('qemu-img', [
      'compare',
      '-f',
      'vpc',
      '-F',
      'raw',
      scratch.path('disk.vhd'),
      scratch.path('disk.raw'),
    ]).toString()
    expect(compared).toContain('Images are identical')
  })

  it('stops reading the repository when the client goes away, and frees its place and memory', async () => {
    const start = counts.reads
    const lentBefore = lent()
    const controller = new AbortController()
    const response = await download(controller.signal)
    // Some blocks taken first: chunks read whole, some of them in the reader's cache when the client goes.
    const body = response.body!.getReader()
    let taken = 0
    while (taken < 8 * MiB) taken += (await body.read()).value!.length
    expect(counts.reads - start).toBeLessThan(dataChunks) // the first bytes came before the whole disk was read
    controller.abort()
    await sleep(500)
    const settled = counts.reads
    await sleep(1500)
    expect(counts.reads).toBe(settled) // nothing more is read
    expect(settled - start).toBeLessThan(dataChunks)
    expect(await lentBackTo(lentBefore)).toBe(lentBefore)
    // Not merely blocked on a socket that nobody reads: the download ended and its place is free.
    const others = await startDownloads(MAX_DOWNLOADS)
    expect(others.responses.map((r) => r.status)).toEqual(others.responses.map(() => 200))
    others.stop()
    expect(await lentBackTo(lentBefore)).toBe(lentBefore)
  })

  it('caps the downloads running at once, and a finished or abandoned one frees its place', async () => {
    const running = await startDownloads(MAX_DOWNLOADS)
    expect(running.responses.map((r) => r.status)).toEqual(running.responses.map(() => 200))
    const refused = await download()
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('30')
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_DOWNLOADS')
    running.stop()
    const again = await startDownloads(1)
    expect(again.responses[0]!.status).toBe(200)
    again.stop()
  })
})
