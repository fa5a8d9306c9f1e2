// The client against real servers: nbdkit (plugins, TLS, fault filters, no structured replies) and
// qemu-nbd (plain, TLS with client certificates, dirty bitmaps). Block status must match nbdinfo --map.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  requireBinary,
  scratchDir,
  makeTlsFixture,
  type Scratch,
  type TlsFixture,
} from '../../testing/index.js'
import { BufferPool } from '../../shared/lease.js'
import { NbdClient, type NbdClientOptions } from './client.js'
import { mergeExtents } from '../codec/extent.js'
import { makeTestImage } from '../testing/image.js'
import { nbdinfoMap, runTool, startNbdkit, startQemuNbd, type RunningServer } from '../testing/servers.js'

const SIZE = 24 * 1024 * 1024
let scratch: Scratch
let tls: TlsFixture
let image: Buffer
let n = 0
const servers: RunningServer[] = []

beforeAll(async () => {
  for (const tool of ['nbdkit', 'qemu-nbd', 'qemu-img', 'qemu-io', 'nbdinfo', 'nbdcopy', 'openssl'])
    requireBinary(tool)
  scratch = await scratchDir('strata-nbd-client-')
  tls = await makeTlsFixture(scratch.path('tls'))
  await makeTestImage(scratch.path('disk.raw'), SIZE)
  image = await readFile(scratch.path('disk.raw'))
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
  await scratch?.[Symbol.asyncDispose]()
})

async function nbdkit(plugin: string[], options: string[] = []): Promise<RunningServer> {
  const server = await startNbdkit(scratch.path(`k${n++}.sock`), plugin, options)
  servers.push(server)
  return server
}

async function qemuNbd(
  file: string,
  options: Parameters<typeof startQemuNbd>[2] = {},
): Promise<RunningServer> {
  const server = await startQemuNbd(scratch.path(`q${n++}.sock`), file, options)
  servers.push(server)
  return server
}

async function readAll(client: NbdClient): Promise<Buffer> {
  const out = Buffer.alloc(client.size)
  let expected = 0
  for await (const piece of client.readRanges([{ offset: 0, length: client.size }])) {
    expect(piece.offset).toBe(expected) // ordered by default
    piece.bytes.copy(out, piece.offset)
    expected += piece.bytes.length
    piece.release()
  }
  return out
}

async function open(server: RunningServer, options: Partial<NbdClientOptions> = {}): Promise<NbdClient> {
  return NbdClient.open({ socketPath: server.socketPath, connectTimeoutMs: 5000, ...options })
}

describe('NbdClient against nbdkit', () => {
  it('reads a file and reports the same extents as nbdinfo --map', async () => {
    const server = await nbdkit(['file', scratch.path('disk.raw')])
    const client = await open(server, { connections: 3, inFlight: 4, requestSize: 256 * 1024 })
    expect(client.info.structuredReplies).toBe(true)
    expect((await readAll(client)).equals(image)).toBe(true)
    const ours = await client.blockStatus(0, client.size)
    expect(ours).toEqual(mergeExtents(await nbdinfoMap(server.uri())))
    expect(ours.some((e) => e.flags === 3)).toBe(true) // real holes are seen
    await client.close()
  })

  it('reads memory (all holes), pattern and sparse-random exports', async () => {
    const memory = await open(await nbdkit(['memory', 'size=8M']))
    expect((await memory.read(0, 8 << 20)).equals(Buffer.alloc(8 << 20))).toBe(true)
    expect(await memory.blockStatus(0, 8 << 20)).toEqual([{ offset: 0, length: 8 << 20, flags: 3 }])
    await memory.close()

    const pattern = await open(await nbdkit(['pattern', 'size=8M']))
    const data = await pattern.read(1 << 20, 3 << 20)
    for (let i = 0; i < data.length; i += 8) {
      if (data.readBigUInt64BE(i) !== BigInt((1 << 20) + i)) throw new Error(`pattern mismatch at ${i}`)
    }
    await pattern.close()

    const server = await nbdkit(['sparse-random', 'size=16M', 'seed=7', 'percent=20'])
    await runTool('nbdcopy', [server.uri(), scratch.path('sparse.raw')])
    const sparse = await open(server)
    expect((await readAll(sparse)).equals(await readFile(scratch.path('sparse.raw')))).toBe(true)
    expect(await sparse.blockStatus(0, sparse.size)).toEqual(mergeExtents(await nbdinfoMap(server.uri())))
    await sparse.close()
  })

  it('reads without structured replies (--no-sr) and says block status is unavailable', async () => {
    const client = await open(await nbdkit(['file', scratch.path('disk.raw')], ['--no-sr']))
    expect(client.info.structuredReplies).toBe(false)
    expect((await readAll(client)).equals(image)).toBe(true)
    await expect(client.blockStatus(0, 4096)).rejects.toMatchObject({ code: 'NBD_UNSUPPORTED' })
    await client.close()
  })

  it('verifies TLS: CA, pinned certificate, wrong pin, wrong name, TLS refused', async () => {
    const server = await nbdkit(
      ['file', scratch.path('disk.raw')],
      ['--tls=require', `--tls-certificates=${tls.serverDir}`],
    )
    const viaCa = await open(server, { tls: { ca: tls.ca.cert } })
    expect(viaCa.info.tls).toBe(true)
    expect(viaCa.directReads).toBe(true)
    expect((await viaCa.read(0, SIZE)).equals(image)).toBe(true)
    await viaCa.close()
    // With a shared allocator, pieces land in shared memory (codec workers read them there), with the
    // right bytes, in buffers reused once released; whole ranges larger than the server's limit too.
    const pool = new BufferPool({ shared: true })
    const shared = await open(server, { tls: { ca: tls.ca.cert }, allocator: pool, requestSize: 1 << 20 })
    const chunks = [0, 3, 5].map((i) => ({ offset: i * (3 << 20), length: 3 << 20 }))
    for (const whole of [false, true]) {
      for await (const piece of shared.readRanges(chunks, { whole, ordered: false })) {
        expect(piece.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
        expect(piece.bytes.length).toBe(whole ? 3 << 20 : 1 << 20)
        expect(piece.bytes.equals(image.subarray(piece.offset, piece.offset + piece.bytes.length))).toBe(true)
        piece.release()
      }
    }
    expect(pool.lent).toBe(0)
    expect(pool.made).toBeLessThanOrEqual(shared.capacity + 3)
    await shared.close()
    const pinned = await open(server, {
      tls: { pinnedCertificate: tls.server.cert, servername: 'localhost' },
    })
    expect((await pinned.read(4 << 20, 1 << 20)).equals(image.subarray(4 << 20, 5 << 20))).toBe(true)
    await pinned.close()
    const fail = { retries: 0 }
    await expect(
      open(server, { ...fail, tls: { pinnedCertificate: tls.client.cert } }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    await expect(
      open(server, { ...fail, tls: { pinnedCertificate: tls.server.cert, servername: 'xcp-host-9' } }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    await expect(
      open(server, { ...fail, tls: { ca: tls.ca.cert, servername: 'xcp-host-9' } }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    await expect(open(server, fail)).rejects.toMatchObject({ code: 'NBD_TLS' })
  })

  it('retries reads that fail with EIO (--filter=error) and returns correct data', async () => {
    const server = await nbdkit(
      ['file', scratch.path('disk.raw'), 'error=EIO', 'error-pread-rate=20%'],
      ['--filter=error'],
    )
    const client = await open(server, { requestSize: 1 << 20, retries: 20, retryDelayMs: 1 })
    expect((await readAll(client)).equals(image)).toBe(true)
    await client.close()
    const always = await nbdkit(
      ['file', scratch.path('disk.raw'), 'error=EIO', 'error-pread-rate=100%'],
      ['--filter=error'],
    )
    const failing = await open(always, { retries: 2, retryDelayMs: 1 })
    await expect(failing.read(0, 4096)).rejects.toMatchObject({
      code: 'NBD_SERVER_ERROR',
      details: { errno: 'EIO' },
    })
    await failing.close()
  })

  it('waits for a slow server (--filter=delay) and times out a too slow one', async () => {
    const server = await nbdkit(['file', scratch.path('disk.raw'), 'rdelay=300ms'], ['--filter=delay'])
    const patient = await open(server, { requestTimeoutMs: 5000 })
    expect((await patient.read(0, 1 << 20)).equals(image.subarray(0, 1 << 20))).toBe(true)
    await patient.close()
    const hasty = await open(server, { requestTimeoutMs: 100, retries: 1, retryDelayMs: 1 })
    await expect(hasty.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_TIMEOUT' })
    await hasty.close()
  })
})

describe('NbdClient against qemu-nbd', () => {
  it('reads, and matches nbdinfo --map for base:allocation and a dirty bitmap', async () => {
    const plain = await qemuNbd(scratch.path('disk.raw'))
    const client = await open(plain, { exportName: 'disk', connections: 4 })
    expect((await readAll(client)).equals(image)).toBe(true)
    expect(await client.blockStatus(0, SIZE)).toEqual(mergeExtents(await nbdinfoMap(plain.uri('disk'))))
    await client.close()

    const qcow = scratch.path('bm.qcow2')
    await runTool('qemu-img', ['create', '-f', 'qcow2', qcow, '64M'])
    await runTool('qemu-img', ['bitmap', '--add', '--enable', '-f', 'qcow2', qcow, 'bm0'])
    await runTool('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'write -P 0xbb 8M 1M',
      '-c',
      'write -P 0xcc 40M 64k',
      qcow,
    ])
    const bitmap = await qemuNbd(qcow, { format: 'qcow2', extra: ['-B', 'bm0'] })
    const context = 'qemu:dirty-bitmap:bm0'
    const dirty = await open(bitmap, { exportName: 'disk', metaContexts: ['base:allocation', context] })
    const ours = await dirty.blockStatus(0, 64 << 20, { context })
    expect(ours).toEqual(mergeExtents(await nbdinfoMap(bitmap.uri('disk'), context)))
    expect(ours.filter((e) => e.flags === 1).map((e) => [e.offset, e.length])).toEqual([
      [8 << 20, 1 << 20],
      [40 << 20, 64 << 10],
    ])
    expect((await dirty.read(8 << 20, 1 << 20)).equals(Buffer.alloc(1 << 20, 0xbb))).toBe(true)
    await dirty.close()
  })

  it('reads over TLS with a client certificate (verify-peer=on)', async () => {
    const server = await qemuNbd(scratch.path('disk.raw'), { tlsDir: tls.serverDir })
    const client = await open(server, {
      exportName: 'disk',
      tls: { ca: tls.ca.cert, cert: tls.client.cert, key: tls.client.key },
      connections: 2,
    })
    expect(client.directReads).toBe(true)
    expect((await readAll(client)).equals(image)).toBe(true)
    await client.close()
    // The fallback when the user-buffer path is off (as when its feature test fails): data events.
    const fallback = await open(server, {
      exportName: 'disk',
      tls: { ca: tls.ca.cert, cert: tls.client.cert, key: tls.client.key },
      tlsDirectReads: false,
    })
    expect(fallback.directReads).toBe(false)
    expect((await readAll(fallback)).equals(image)).toBe(true)
    await fallback.close()
    await expect(
      open(server, { exportName: 'disk', tls: { ca: tls.ca.cert }, retries: 0 }),
    ).rejects.toBeDefined()
  })
})
