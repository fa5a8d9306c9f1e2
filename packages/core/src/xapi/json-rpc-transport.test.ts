// Keep-alive connections a server closes while idle, with a small server that does it at the worst
// moment: exactly when the next request arrives on the connection (closed, or reset). A read-only call is
// sent again on a new connection and answered; a call with effect is not sent twice. And the client
// retires a pooled connection 1 s before the timeout the server announced, so that the race seldom
// arises. Over plain HTTP and over the pinned HTTPS agent.
import { once } from 'node:events'
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { makeSelfSignedCertificate, requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { idleLimitMs, IDLE_LIMIT_MS } from './keep-alive.js'
import { JsonRpcTransport } from './json-rpc-transport.js'
import { pemFingerprint } from './pool-certificate.js'
import { PoolTrust } from './pool-trust.js'
import { XapiConnectionError } from './xapi-error.js'

/** What the server does with the `nth` request (0-based) of connection `conn`. */
type Policy = (conn: number, nth: number) => 'answer' | 'close' | 'reset'

interface FakeServer {
  readonly url: URL
  /** Each request as it arrived: the connection and the method. */
  readonly requests: { conn: number; method: string }[]
  /** Connections whose client closed its side (the server never closes one itself unless told). */
  readonly endedByClient: Set<number>
  connections(): number
  close(): Promise<void>
}

async function startServer(policy: Policy, tls?: { cert: string; key: string }): Promise<FakeServer> {
  const requests: FakeServer['requests'] = []
  const endedByClient = new Set<number>()
  const sockets = new Set<Socket>()
  let connections = 0
  const onConnection = (raw: Socket): void => {
    // Over TLS the reset is the TCP connection's (a TLS socket has no handle of its own to reset).
    const socket =
      tls === undefined ? raw : new TLSSocket(raw, { isServer: true, cert: tls.cert, key: tls.key })
    const conn = connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('end', () => endedByClient.add(conn))
    socket.on('error', () => undefined)
    let nth = 0
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      const head = pending.indexOf('\r\n\r\n')
      if (head === -1) return
      const length = Number(/content-length:\s*(\d+)/i.exec(pending.subarray(0, head).toString())?.[1])
      if (pending.length < head + 4 + length) return
      const { id, method } = JSON.parse(pending.subarray(head + 4, head + 4 + length).toString()) as {
        id: number
        method: string
      }
      pending = pending.subarray(head + 4 + length)
      requests.push({ conn, method })
      const what = policy(conn, nth++)
      if (what === 'close') return void socket.destroy()
      if (what === 'reset') return void raw.resetAndDestroy()
      const body = JSON.stringify({ jsonrpc: '2.0', id, result: `${method} on ${conn}` })
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
          `connection: keep-alive\r\nkeep-alive: timeout=2\r\n\r\n${body}`,
      )
    })
  }
  const server: Server = createNetServer(onConnection)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  return {
    url: new URL(`${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`),
    requests,
    endedByClient,
    connections: () => connections,
    async close() {
      for (const socket of sockets) socket.destroy()
      server.close()
      await once(server, 'close')
    },
  }
}

/** The next request on the first connection finds it closed by the server, all others are answered. */
const closedOnSecond =
  (how: 'close' | 'reset'): Policy =>
  (conn, nth) =>
    conn === 0 && nth === 1 ? how : 'answer'

describe.each(['http', 'https'] as const)('a keep-alive connection over %s', (scheme) => {
  let scratch: Scratch
  let tls: { cert: string; key: string; fingerprint: string } | undefined
  let server: FakeServer | undefined
  let transport: JsonRpcTransport | undefined

  beforeAll(async () => {
    if (scheme === 'http') return
    requireBinary('openssl')
    scratch = await scratchDir('strata-keep-alive-')
    const issued = await makeSelfSignedCertificate(scratch.path('tls'), 'host', { commonName: '127.0.0.1' })
    tls = { cert: issued.cert, key: issued.key, fingerprint: pemFingerprint(issued.cert) }
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })
  afterEach(async () => {
    transport?.close()
    await server?.close()
    server = undefined
  })

  const connect = async (policy: Policy): Promise<JsonRpcTransport> => {
    server = await startServer(policy, tls)
    const trust = new PoolTrust(server.url, { insecureHttp: true, fingerprint: tls?.fingerprint })
    transport = new JsonRpcTransport(server.url, trust.agent(true))
    return transport
  }

  for (const how of ['close', 'reset'] as const) {
    it(`sends a read-only call again on a new connection when the server ${how}s the pooled one`, async () => {
      const rpc = await connect(closedOnSecond(how))
      expect(await rpc.call('VM.get_record', ['s', 'vm'])).toBe('VM.get_record on 0')
      expect(await rpc.call('VM.get_record', ['s', 'vm'])).toBe('VM.get_record on 1')
      expect(server!.requests).toEqual([
        { conn: 0, method: 'VM.get_record' },
        { conn: 0, method: 'VM.get_record' },
        { conn: 1, method: 'VM.get_record' },
      ])
    })

    it(`does not send a call with effect twice when the server ${how}s the pooled one`, async () => {
      const rpc = await connect(closedOnSecond(how))
      await rpc.call('VM.get_record', ['s', 'vm'])
      await expect(rpc.call('VM.snapshot', ['s', 'vm', 'name'])).rejects.toBeInstanceOf(XapiConnectionError)
      expect(server!.requests.filter((r) => r.method === 'VM.snapshot')).toEqual([
        { conn: 0, method: 'VM.snapshot' },
      ])
      // The next call is not held back by it.
      expect(await rpc.call('VM.snapshot', ['s', 'vm', 'name'])).toBe('VM.snapshot on 1')
    })
  }

  it('closes a pooled connection itself 1 s before the keep-alive timeout the server announced', async () => {
    const rpc = await connect(() => 'answer')
    await rpc.call('VM.get_record', ['s', 'vm'])
    const started = Date.now()
    // The server announced 2 s and never closes a connection itself: only the client can end it.
    while (!server!.endedByClient.has(0) && Date.now() - started < 3000)
      await new Promise((resolve) => setTimeout(resolve, 20))
    expect(server!.endedByClient.has(0)).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
  })
})

describe('idleLimitMs', () => {
  it('is 1 s below the timeout a server announces, never above the limit, 0 below 1 s', () => {
    expect(idleLimitMs(undefined)).toBe(IDLE_LIMIT_MS)
    expect(idleLimitMs('timeout=5')).toBe(4000)
    expect(idleLimitMs('timeout=2, max=100')).toBe(1000)
    expect(idleLimitMs('max=100, timeout=3')).toBe(2000)
    expect(idleLimitMs('timeout=600')).toBe(IDLE_LIMIT_MS)
    expect(idleLimitMs('timeout=1')).toBe(0)
  })
})
