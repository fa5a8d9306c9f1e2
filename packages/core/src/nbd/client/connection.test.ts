// The client against a scripted, misbehaving server: every malformed reply gives a typed NbdError, never
// a hang or a crash; retryable failures are retried on a new connection by the pool.
import { afterEach, describe, expect, it } from 'vitest'
import { NbdClient } from './client.js'
import { Errno, ReplyFlag, ReplyType } from '../codec/constants.js'
import {
  encodeBlockStatusPayload,
  encodeOffset,
  encodeSimpleReply,
  encodeStructuredHeader,
} from '../codec/transmission.js'
import { NbdConnection } from './connection.js'
import {
  startScriptedServer,
  type ScriptedServer,
  type ScriptedServerOptions,
} from '../testing/scripted-server.js'

const SIZE = 1024 * 1024
let server: ScriptedServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

async function connectTo(
  options: ScriptedServerOptions,
  timeouts = { connectTimeoutMs: 2000, requestTimeoutMs: 2000 },
) {
  server = await startScriptedServer(options)
  return NbdConnection.connect({ host: '127.0.0.1', port: server.port, ...timeouts })
}

const pattern = (offset: number, length: number): Buffer => {
  const b = Buffer.alloc(length)
  for (let i = 0; i < length; i++) b[i] = (offset + i) % 251
  return b
}

describe('NbdConnection against a misbehaving server', () => {
  it('reads correctly when the server behaves (simple replies)', async () => {
    const c = await connectTo({
      size: SIZE,
      onRequest: (r, { socket }) =>
        socket.write(Buffer.concat([encodeSimpleReply(0, r.handle), pattern(r.offset, r.length)])),
    })
    expect(c.info.via).toBe('export-name')
    const [a, b] = await Promise.all([c.read(0, 4096), c.read(65536, 100000)])
    expect(a.equals(pattern(0, 4096))).toBe(true)
    expect(b.equals(pattern(65536, 100000))).toBe(true)
    await c.close()
  })

  it('rejects a bad reply magic', async () => {
    const c = await connectTo({
      size: SIZE,
      onRequest: (_r, { socket }) => socket.write(Buffer.alloc(16, 0xaa)),
    })
    await expect(c.read(0, 512)).rejects.toMatchObject({ code: 'NBD_BAD_MAGIC' })
  })

  it('rejects a reply to a handle it never sent', async () => {
    const handle = Buffer.alloc(8)
    handle.writeUInt32BE(999, 4)
    const c = await connectTo({
      size: SIZE,
      onRequest: (_r, { socket }) => socket.write(encodeSimpleReply(0, handle)),
    })
    await expect(c.read(0, 512)).rejects.toMatchObject({ code: 'NBD_UNKNOWN_HANDLE' })
  })

  it('rejects a reply cut short by the server (retryable)', async () => {
    const c = await connectTo({
      size: SIZE,
      onRequest: (r, { socket }) =>
        socket.end(Buffer.concat([encodeSimpleReply(0, r.handle), Buffer.alloc(100)])),
    })
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_SHORT_REPLY', retryable: true })
  })

  it('rejects a truncated reply header', async () => {
    const c = await connectTo({
      size: SIZE,
      onRequest: (r, { socket }) => socket.end(encodeSimpleReply(0, r.handle).subarray(0, 10)),
    })
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_SHORT_REPLY' })
  })

  it('rejects a structured data chunk longer than the read', async () => {
    const c = await connectTo({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) =>
        socket.write(
          Buffer.concat([
            encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, r.handle, 8 + r.length * 2),
            encodeOffset(r.offset),
          ]),
        ),
    })
    expect(c.info.structuredReplies).toBe(true)
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_OVERSIZED_REPLY' })
  })

  it('rejects a data chunk placed outside the read', async () => {
    const c = await connectTo({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) =>
        socket.write(
          Buffer.concat([
            encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, r.handle, 8 + r.length),
            encodeOffset(r.offset + 512),
            Buffer.alloc(r.length),
          ]),
        ),
    })
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_OVERSIZED_REPLY' })
  })

  it('rejects a structured read that ends without all its data', async () => {
    const c = await connectTo({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) =>
        socket.write(
          Buffer.concat([
            encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, r.handle, 8 + 512),
            encodeOffset(r.offset),
            Buffer.alloc(512),
          ]),
        ),
    })
    await expect(c.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_INCOMPLETE_REPLY' })
  })

  it('assembles structured data and hole chunks in any order', async () => {
    const c = await connectTo({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) => {
        const half = r.length / 2
        const data = encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, r.handle, 8 + half)
        const hole = Buffer.alloc(12)
        hole.writeBigUInt64BE(BigInt(r.offset), 0)
        hole.writeUInt32BE(half, 8)
        socket.write(
          Buffer.concat([
            encodeStructuredHeader(0, ReplyType.OFFSET_HOLE, r.handle, 12),
            hole,
            data,
            encodeOffset(r.offset + half),
            pattern(r.offset + half, half),
          ]),
        )
      },
    })
    const got = await c.read(8192, 8192)
    expect(got.subarray(0, 4096).equals(Buffer.alloc(4096))).toBe(true)
    expect(got.subarray(4096).equals(pattern(8192 + 4096, 4096))).toBe(true)
    await c.close()
  })

  it('reports an error reply with its errno; EIO is retryable, EINVAL is not', async () => {
    const c = await connectTo({
      size: SIZE,
      onRequest: (r, { socket }) =>
        socket.write(encodeSimpleReply(r.offset === 0 ? Errno.EIO : Errno.EINVAL, r.handle)),
    })
    await expect(c.read(0, 512)).rejects.toMatchObject({
      code: 'NBD_SERVER_ERROR',
      retryable: true,
      details: { errno: 'EIO' },
    })
    await expect(c.read(512, 512)).rejects.toMatchObject({
      code: 'NBD_SERVER_ERROR',
      retryable: false,
      details: { errno: 'EINVAL' },
    })
    // An error reply leaves the stream intact: the connection is still usable.
    expect(c.failed).toBeUndefined()
  })

  it('times out when the server stops answering, instead of hanging', async () => {
    const c = await connectTo(
      { size: SIZE, onRequest: () => {} },
      { connectTimeoutMs: 2000, requestTimeoutMs: 200 },
    )
    const started = Date.now()
    await expect(c.read(0, 512)).rejects.toMatchObject({ code: 'NBD_TIMEOUT', retryable: true })
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('times out when the server never greets', async () => {
    server = await startScriptedServer({ size: SIZE, silent: true, onRequest: () => {} })
    await expect(
      NbdConnection.connect({ host: '127.0.0.1', port: server.port, connectTimeoutMs: 200 }),
    ).rejects.toMatchObject({ code: 'NBD_TIMEOUT' })
  })

  it('rejects extents that run past the export', async () => {
    const c = await connectTo({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) => {
        const body = encodeBlockStatusPayload(1, [{ offset: 0, length: SIZE * 2, flags: 0 }])
        socket.write(
          Buffer.concat([
            encodeStructuredHeader(ReplyFlag.DONE, ReplyType.BLOCK_STATUS, r.handle, body.length),
            body,
          ]),
        )
      },
    })
    await expect(c.blockStatus(0, 4096)).rejects.toMatchObject({ code: 'NBD_OVERSIZED_REPLY' })
    await expect(c.blockStatus(0, 4096, 'qemu:dirty-bitmap:none')).rejects.toMatchObject({
      code: 'NBD_UNSUPPORTED',
    })
  })
})

describe('NbdClient retries', () => {
  it('retries a read on a new connection after the server dropped the first one', async () => {
    server = await startScriptedServer({
      size: SIZE,
      onRequest: (r, { socket, connection }) => {
        if (connection === 0) socket.destroy()
        else socket.write(Buffer.concat([encodeSimpleReply(0, r.handle), pattern(r.offset, r.length)]))
      },
    })
    const client = await NbdClient.open({
      host: '127.0.0.1',
      port: server.port,
      connections: 1,
      retryDelayMs: 1,
    })
    const data = await client.read(4096, 300_000)
    expect(data.equals(pattern(4096, 300_000))).toBe(true)
    expect(server.connections).toBe(2)
    await client.close()
  })

  it('gives up with the typed error after the retries', async () => {
    server = await startScriptedServer({ size: SIZE, onRequest: (_r, { socket }) => socket.destroy() })
    const client = await NbdClient.open({
      host: '127.0.0.1',
      port: server.port,
      connections: 1,
      retries: 2,
      retryDelayMs: 1,
    })
    await expect(client.read(0, 4096)).rejects.toMatchObject({ code: 'NBD_CONNECTION_CLOSED' })
    expect(server.connections).toBe(3)
    await client.close()
  })

  it('stops on abort without waiting for the server', async () => {
    server = await startScriptedServer({ size: SIZE, onRequest: () => {} })
    const client = await NbdClient.open({ host: '127.0.0.1', port: server.port, connections: 1 })
    const controller = new AbortController()
    const reading = client.read(0, 4096, controller.signal)
    setTimeout(() => controller.abort(), 50)
    await expect(reading).rejects.toMatchObject({ code: 'ABORTED' })
    client.close().catch(() => {})
  })
})
