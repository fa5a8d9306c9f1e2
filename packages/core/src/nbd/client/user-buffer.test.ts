// The hand-made user-buffer read path on a TLS socket upgraded after a plain-text exchange (as NBD's
// STARTTLS does): every byte arrives once, in order, in the buffers we hand out, whatever their sizes;
// and the switch refuses when it cannot be sure (bytes already buffered, turned off).
import { once } from 'node:events'
import { createServer as createNetServer, connect, type AddressInfo, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { TLSSocket, connect as tlsConnect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeSelfSignedCertificate, requireBinary, scratchDir, type Scratch } from '../../testing/index.js'
import { probeUserBufferInternals, readIntoUserBuffers, type UserBufferOptions } from './user-buffer.js'

const PAYLOAD = randomBytes(1024 * 1024 + 12_345)
let scratch: Scratch
let cert: { cert: string; key: string }

beforeAll(async () => {
  requireBinary('openssl')
  scratch = await scratchDir('strata-user-buffer-')
  cert = await makeSelfSignedCertificate(scratch.path('cert'), 'server', { commonName: 'localhost' })
})
afterAll(() => scratch?.[Symbol.asyncDispose]())

/** A server that answers 'go' in clear text, then upgrades and sends PAYLOAD in odd-sized writes. */
async function withServer<T>(run: (port: number) => Promise<T>): Promise<T> {
  const server = createNetServer((raw) => {
    raw.once('data', () => {
      raw.write('ok')
      const secure = new TLSSocket(raw, { isServer: true, cert: cert.cert, key: cert.key })
      secure.once('secure', () => {
        let writes = 0
        for (let at = 0; at < PAYLOAD.length;) {
          const n = Math.min(PAYLOAD.length - at, [1, 100, 16_385, 70_000][writes++ % 4]!)
          secure.write(PAYLOAD.subarray(at, at + n))
          at += n
        }
        secure.end()
      })
      secure.on('error', () => raw.destroy())
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    return await run((server.address() as AddressInfo).port)
  } finally {
    server.close()
  }
}

async function upgrade(port: number): Promise<TLSSocket> {
  const raw: Socket = connect(port, '127.0.0.1')
  await once(raw, 'connect')
  raw.write('go')
  await once(raw, 'data')
  const secure = tlsConnect({ socket: raw, rejectUnauthorized: false })
  await once(secure, 'secureConnect')
  return secure
}

/** Reads the whole stream, handing out buffers of the given sizes in turn. */
async function receive(
  secure: TLSSocket,
  sizes: number[],
  options?: UserBufferOptions,
): Promise<{ data: Buffer; direct: boolean }> {
  const parts: Buffer[] = []
  let turn = 0
  let given: Buffer | undefined
  const next = (): Buffer => (given = Buffer.alloc(sizes[turn++ % sizes.length]!))
  const direct = readIntoUserBuffers(
    secure,
    next,
    (n, buffer) => {
      expect(buffer).toBe(given)
      parts.push(Buffer.from(buffer.subarray(0, n)))
    },
    options,
  )
  secure.on('data', (chunk: Buffer) => parts.push(Buffer.from(chunk)))
  await once(secure, 'end')
  secure.destroy()
  return { data: Buffer.concat(parts), direct }
}

describe('readIntoUserBuffers on an upgraded TLS socket', () => {
  it('delivers every byte in order into the buffers handed out, small and large', async () => {
    await withServer(async (port) => {
      for (const sizes of [[28, 65_536], [2 * 1024 * 1024, 5, 16_384], [997]]) {
        const { data, direct } = await receive(await upgrade(port), sizes)
        expect(direct).toBe(true)
        expect(data.equals(PAYLOAD)).toBe(true)
      }
    })
  })

  it('keeps data events when bytes are already buffered or when turned off', async () => {
    await withServer(async (port) => {
      const early = await upgrade(port)
      while (early.readableLength === 0) await new Promise((r) => setTimeout(r, 5))
      const buffered = await receive(early, [4096])
      expect(buffered.direct).toBe(false)
      expect(buffered.data.equals(PAYLOAD)).toBe(true)

      const off = await receive(await upgrade(port), [4096], { enabled: false })
      expect(off.direct).toBe(false)
      expect(off.data.equals(PAYLOAD)).toBe(true)
    })
  })

  it('passes its feature test on this Node, and falls back to data events where it fails', async () => {
    // The Node versions the README supports have the three symbols: the test must find them here.
    expect(probeUserBufferInternals()).not.toBeNull()
    // A Node whose sockets lack them (or hold something else in them) fails the test...
    expect(probeUserBufferInternals(() => ({ destroy: () => {} }))).toBeNull()
    const decoy = { [Symbol('kBuffer')]: null, [Symbol('kBufferCb')]: null, [Symbol('kBufferGen')]: null }
    expect(probeUserBufferInternals(() => decoy)).toBeNull()
    expect(
      probeUserBufferInternals(() => {
        throw new TypeError('onread is not supported')
      }),
    ).toBeNull()
    // ...and then every byte still arrives, through data events.
    await withServer(async (port) => {
      const fallback = await receive(await upgrade(port), [4096], { internals: null })
      expect(fallback.direct).toBe(false)
      expect(fallback.data.equals(PAYLOAD)).toBe(true)
    })
  })
})
