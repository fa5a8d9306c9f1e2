// Our server against real clients (nbdinfo, nbdcopy, qemu-img compare), with and without TLS, several
// connections at once; and the xapi-nbd profile's exact behaviour as our client and libnbd see it.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  makeSelfSignedCertificate,
  makeTlsFixture,
  requireBinary,
  scratchDir,
  type Scratch,
  type TlsFixture,
} from '../../testing/index.js'
import { staticExports, type ResolvedExport } from './block-source.js'
import { NbdClient } from '../client/client.js'
import { readAllocationMap } from './allocation-map.js'
import { STATE_HOLE, STATE_ZERO } from '../codec/constants.js'
import { mergeExtents, type Extent } from '../codec/extent.js'
import { NbdConnection } from '../client/connection.js'
import { CowOverlay } from './cow-overlay.js'
import { FileBlockSource } from './file-source.js'
import { NbdServer, type NbdServerTransport } from './server.js'
import { blockKind, makeTestImage } from '../testing/image.js'
import { nbdinfoMap, runTool } from '../testing/servers.js'

const SIZE = 24 * 1024 * 1024
const BLOCK = 1024 * 1024
let scratch: Scratch
let tls: TlsFixture
let source: FileBlockSource
let image: Buffer
let n = 0
const servers: NbdServer[] = []

beforeAll(async () => {
  for (const tool of ['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'openssl']) requireBinary(tool)
  scratch = await scratchDir('strata-nbd-server-')
  tls = await makeTlsFixture(scratch.path('tls'))
  await makeTestImage(scratch.path('disk.raw'), SIZE, BLOCK)
  image = await readFile(scratch.path('disk.raw'))
  source = await FileBlockSource.open(scratch.path('disk.raw'))
  if ((await readAllocationMap(scratch.path('disk.raw'))) !== undefined) holeFlags = STATE_HOLE | STATE_ZERO
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()))
  await source?.close()
  await scratch?.[Symbol.asyncDispose]()
})

async function serve(options: Partial<Parameters<typeof NbdServer.listen>[0]> = {}): Promise<NbdServer> {
  const server = await NbdServer.listen(
    { resolve: staticExports({ disk: source }), ...options },
    { path: scratch.path(`s${n++}.sock`) },
  )
  servers.push(server)
  return server
}

let holeFlags = STATE_ZERO

/** Holes are reported as holes where the filesystem tells (FIEMAP), as zeros otherwise; written zeros as zeros. */
const expectedMap = (): Extent[] =>
  mergeExtents(
    Array.from({ length: SIZE / BLOCK }, (_, i) => ({
      offset: i * BLOCK,
      length: BLOCK,
      flags: blockKind(i) === 'hole' ? holeFlags : blockKind(i) === 'zeros' ? STATE_ZERO : 0,
    })),
  )

const qemuTls = (dir: string): string[] => ['--object', `tls-creds-x509,id=tls0,endpoint=client,dir=${dir}`]
const qemuNbdTarget = (socket: string, tlsCreds: boolean): string =>
  `json:${JSON.stringify({
    driver: 'raw',
    file: {
      driver: 'nbd',
      server: { type: 'unix', path: socket },
      export: 'disk',
      ...(tlsCreds ? { 'tls-creds': 'tls0', 'tls-hostname': 'localhost' } : {}),
    },
  })}`

describe('NbdServer (full profile) with real clients', () => {
  it('serves nbdinfo, nbdinfo --map, nbdcopy over 4 connections and qemu-img compare', async () => {
    const server = await serve()
    const uri = server.uri('disk')
    const info = JSON.parse(await runTool('nbdinfo', ['--json', uri])) as {
      protocol: string
      exports: { 'export-size': number; is_read_only: boolean; can_multi_conn: boolean; contexts: string[] }[]
    }
    expect(info.exports[0]).toMatchObject({ 'export-size': SIZE, is_read_only: true, can_multi_conn: true })
    expect(info.exports[0]!.contexts).toContain('base:allocation')
    expect(mergeExtents(await nbdinfoMap(uri))).toEqual(expectedMap())
    await runTool('nbdcopy', ['--connections=4', '--requests=8', uri, scratch.path('copy.raw')])
    expect((await readFile(scratch.path('copy.raw'))).equals(image)).toBe(true)
    const compare = await runTool('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      'raw',
      scratch.path('disk.raw'),
      qemuNbdTarget(server.address, false),
    ])
    expect(compare).toContain('Images are identical')
  })

  it('serves the same over TLS with client certificates, and refuses clients without TLS', async () => {
    const server = await serve({ tls: { cert: tls.server.cert, key: tls.server.key, ca: tls.ca.cert } })
    const uri = `${server.uri('disk')}&tls-certificates=${tls.clientDir}`
    await runTool('nbdcopy', ['--connections=2', uri, scratch.path('copy-tls.raw')])
    expect((await readFile(scratch.path('copy-tls.raw'))).equals(image)).toBe(true)
    const compare = await runTool('qemu-img', [
      'compare', ...qemuTls(tls.clientDir), '-f', 'raw', '-F', 'raw', scratch.path('disk.raw'), qemuNbdTarget(server.address, true),
    ]) // prettier-ignore
    expect(compare).toContain('Images are identical')
    await expect(runTool('nbdinfo', [server.uri('disk').replace('nbds+unix', 'nbd+unix')])).rejects.toThrow()
    const ours = await NbdClient.open({
      socketPath: server.address,
      exportName: 'disk',
      tls: { ca: tls.ca.cert, cert: tls.client.cert, key: tls.client.key },
    })
    expect((await ours.read(0, SIZE)).equals(image)).toBe(true)
    expect(mergeExtents(await ours.blockStatus(0, SIZE))).toEqual(expectedMap())
    await ours.close()
  })

  it('drops the connections of an export on request; the client reconnects and finishes', async () => {
    let released = 0
    const server = await serve({
      resolve: async (name): Promise<ResolvedExport | undefined> =>
        name === 'disk' ? { source, release: () => void released++ } : undefined,
    })
    const client = await NbdClient.open({
      socketPath: server.address,
      exportName: 'disk',
      connections: 2,
      requestSize: 64 * 1024,
      retryDelayMs: 1,
    })
    const out = Buffer.alloc(SIZE)
    let dropped = 0
    for await (const piece of client.readRanges([{ offset: 0, length: SIZE }])) {
      piece.bytes.copy(out, piece.offset)
      piece.release()
      if (piece.offset === 4 * BLOCK) dropped = server.dropConnections('disk')
    }
    expect(dropped).toBeGreaterThan(0)
    expect(out.equals(image)).toBe(true)
    expect(server.dropConnections('other')).toBe(0)
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'other' }),
    ).rejects.toMatchObject({ code: 'NBD_OPTION_REFUSED' })
    await client.close()
    await new Promise((r) => setTimeout(r, 50))
    expect(released).toBeGreaterThanOrEqual(dropped)
    expect(server.connectionCount()).toBe(0)
  })
})

describe('NbdServer writes through a copy-on-write overlay', () => {
  it('lets qemu-io write and read back, while the file underneath stays untouched', async () => {
    const overlay = new CowOverlay(source)
    const server = await serve({ resolve: staticExports({ disk: overlay }) })
    const out = await runTool('qemu-io', [
      '-f', 'raw', '-c', 'write -P 0x5a 1000000 100000', '-c', 'read -P 0x5a 1000000 100000', '-c', 'read -P 0 1200128 4096',
      server.uri('disk'),
    ]) // prettier-ignore
    expect(out).not.toContain('Pattern verification failed')
    const client = await NbdClient.open({ socketPath: server.address, exportName: 'disk' })
    const expected = Buffer.from(image)
    expected.fill(0x5a, 1000000, 1100000)
    expect((await client.read(0, SIZE)).equals(expected)).toBe(true)
    await client.close()
    expect((await readFile(scratch.path('disk.raw'))).equals(image)).toBe(true)
    expect(overlay.overlayBytes).toBe(2 * 64 * 1024) // granules 15 and 16
  })
})

describe('NbdServer (xapi profile)', () => {
  it('behaves like xapi-nbd: EXPORT_NAME only, simple replies, 512-byte alignment, FORCEDTLS', async () => {
    const host = tls.server // a host certificate, pinned as VDI.get_nbd_info would hand it out
    const server = await serve({ profile: 'xapi', tls: { cert: host.cert, key: host.key } })
    const pinned = { pinnedCertificate: host.cert, servername: 'localhost' }
    const client = await NbdClient.open({
      socketPath: server.address,
      exportName: 'disk',
      tls: pinned,
      connections: 4,
    })
    expect(client.info).toMatchObject({
      via: 'export-name',
      structuredReplies: false,
      tls: true,
      flags: 0x0003,
      size: SIZE,
    })
    expect((await client.read(0, SIZE)).equals(image)).toBe(true)
    await expect(client.read(100, 512)).rejects.toMatchObject({
      code: 'NBD_SERVER_ERROR',
      details: { errno: 'EINVAL' },
    })
    await expect(client.blockStatus(0, 512)).rejects.toMatchObject({ code: 'NBD_UNSUPPORTED' })
    await client.close()
    // An unknown export: the connection is closed without a reply.
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'nope', tls: pinned }),
    ).rejects.toMatchObject({ code: 'NBD_OPTION_REFUSED' })
    // Without TLS nothing is served.
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk' }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    // libnbd falls back to EXPORT_NAME too.
    const uri = `${server.uri('disk')}&tls-certificates=${tls.clientDir}`
    await runTool('nbdcopy', [uri, scratch.path('copy-xapi.raw')])
    expect((await readFile(scratch.path('copy-xapi.raw'))).equals(image)).toBe(true)
  })

  it('serves a self-signed host certificate that clients pin, checking the subject like VDI.get_nbd_info', async () => {
    const host = await makeSelfSignedCertificate(scratch.path('host'), 'xapi', {
      commonName: 'xcp-host-1',
      altNames: ['xcp-host-1', '10.0.0.11'],
    })
    const server = await serve({ profile: 'xapi', tls: { cert: host.cert, key: host.key } })
    const nbdInfo = { exportname: 'disk', cert: host.cert, subject: 'xcp-host-1' }
    const client = await NbdClient.open({
      socketPath: server.address,
      exportName: nbdInfo.exportname,
      tls: { pinnedCertificate: nbdInfo.cert, servername: nbdInfo.subject },
      requestSize: 2 * BLOCK,
    })
    const ranges = (async function* () {
      yield { offset: 3 * BLOCK, length: 2 * BLOCK + 512 }
      yield { offset: 0, length: 4096 }
    })()
    const got = new Map<number, Buffer>()
    for await (const piece of client.readRanges(ranges, { ordered: false }))
      got.set(piece.offset, piece.bytes)
    expect([...got.keys()].sort((a, b) => a - b)).toEqual([0, 3 * BLOCK, 4 * BLOCK]) // cut at 2 MiB multiples
    expect(got.get(3 * BLOCK)!.equals(image.subarray(3 * BLOCK, 4 * BLOCK))).toBe(true)
    expect(got.get(4 * BLOCK)!.equals(image.subarray(4 * BLOCK, 5 * BLOCK + 512))).toBe(true)
    await client.close()
    const wrongSubject = { pinnedCertificate: host.cert, servername: 'xcp-host-2' }
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk', tls: wrongSubject }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
  })

  it('decides TLS at each connection, as xapi-nbd follows the network purpose', async () => {
    const host = tls.server
    let transport: NbdServerTransport = 'tls'
    const server = await serve({
      profile: 'xapi',
      tls: { cert: host.cert, key: host.key },
      transport: () => transport,
    })
    const pinned = { pinnedCertificate: host.cert, servername: 'localhost' }
    const secure = await NbdConnection.connect({
      socketPath: server.address,
      exportName: 'disk',
      tls: pinned,
    })
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk' }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    transport = 'clear' // the purpose became insecure_nbd: new connections are clear text
    const clear = await NbdConnection.connect({ socketPath: server.address, exportName: 'disk' })
    expect(clear.info.tls).toBe(false)
    expect((await clear.read(BLOCK, 4096)).equals(image.subarray(BLOCK, BLOCK + 4096))).toBe(true)
    // The connection opened before the change keeps its TLS session and still serves.
    expect((await secure.read(0, 4096)).equals(image.subarray(0, 4096))).toBe(true)
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk', tls: pinned }),
    ).rejects.toMatchObject({ code: 'NBD_TLS' })
    transport = 'refuse' // no NBD purpose (or both): nothing is served
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk' }),
    ).rejects.toMatchObject({ code: 'NBD_CONNECTION_CLOSED' })
    await Promise.all([secure.close(), clear.close()])
  })

  it('accepts at most 16 connections, closing the 17th at once', async () => {
    const server = await serve({ profile: 'xapi' })
    const open = await Promise.all(
      Array.from({ length: 16 }, () =>
        NbdConnection.connect({ socketPath: server.address, exportName: 'disk' }),
      ),
    )
    await expect(
      NbdConnection.connect({ socketPath: server.address, exportName: 'disk' }),
    ).rejects.toMatchObject({ code: 'NBD_CONNECTION_CLOSED' })
    expect(server.connectionCount('disk')).toBe(16)
    await Promise.all(open.map((c) => c.close()))
  })
})
