// A hostile or broken server must not make the client hand out bytes it did not send: the chunks of a
// structured read must cover each requested byte exactly once. Whatever was in the destination buffer
// before (a recycled buffer holds another read's bytes) would otherwise pass for the export's data.
import { afterEach, describe, expect, it } from 'vitest'
import { ReplyFlag, ReplyType } from '../codec/constants.js'
import { encodeOffset, encodeSimpleReply, encodeStructuredHeader } from '../codec/transmission.js'
import type { WireRequest } from '../codec/transmission.js'
import { startScriptedServer, type ScriptedServer } from '../testing/scripted-server.js'
import { NbdClient } from './client.js'
import { NbdConnection } from './connection.js'

const SIZE = 1024 * 1024
const LENGTH = 4096
let server: ScriptedServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

type Part = { kind: 'data' | 'hole'; at: number; length: number; done?: boolean }

/** Chunks at offsets relative to the request; data bytes are 0x5a. */
function reply(r: WireRequest, parts: readonly Part[]): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const flags = p.done === true ? ReplyFlag.DONE : 0
      if (p.kind === 'hole') {
        return [
          encodeStructuredHeader(flags, ReplyType.OFFSET_HOLE, r.handle, 12),
          encodeOffset(r.offset + p.at, p.length),
        ]
      }
      return [
        encodeStructuredHeader(flags, ReplyType.OFFSET_DATA, r.handle, 8 + p.length),
        encodeOffset(r.offset + p.at),
        Buffer.alloc(p.length, 0x5a),
      ]
    }),
  )
}

async function connect(parts: readonly Part[], afterwards?: (r: WireRequest) => Buffer) {
  server = await startScriptedServer({
    size: SIZE,
    structured: true,
    onRequest: (r, { socket }) =>
      socket.write(Buffer.concat([reply(r, parts), afterwards?.(r) ?? Buffer.alloc(0)])),
  })
  return NbdConnection.connect({
    host: '127.0.0.1',
    port: server.port,
    connectTimeoutMs: 2000,
    requestTimeoutMs: 2000,
  })
}

/** A destination holding another read's bytes, as a recycled buffer does. */
const stale = (): Buffer => Buffer.alloc(LENGTH, 0xee)

describe('structured reads cover each byte exactly once', () => {
  it('refuses a reply that sends the first half twice and the second half never', async () => {
    const half = LENGTH / 2
    const c = await connect([
      { kind: 'data', at: 0, length: half },
      { kind: 'data', at: 0, length: half, done: true },
    ])
    await expect(c.read(0, LENGTH, undefined, stale())).rejects.toMatchObject({
      code: 'NBD_OVERLAPPING_REPLY',
      retryable: false,
      details: { offset: 0, length: half },
    })
  })

  it('refuses chunks that overlap in part (the byte count adding up)', async () => {
    const c = await connect([
      { kind: 'data', at: 0, length: 2048 },
      { kind: 'hole', at: 1024, length: 2048, done: true },
    ])
    await expect(c.read(8192, LENGTH, undefined, stale())).rejects.toMatchObject({
      code: 'NBD_OVERLAPPING_REPLY',
    })
  })

  it('refuses a simple reply after structured chunks for the same read', async () => {
    const c = await connect([{ kind: 'data', at: 0, length: 512 }], (r) =>
      Buffer.concat([encodeSimpleReply(0, r.handle), Buffer.alloc(r.length, 0x5a)]),
    )
    await expect(c.read(0, LENGTH, undefined, stale())).rejects.toMatchObject({
      code: 'NBD_OVERLAPPING_REPLY',
    })
  })

  it('refuses a read that ends with a gap, naming it', async () => {
    const c = await connect([
      { kind: 'data', at: 0, length: 1024 },
      { kind: 'hole', at: 1536, length: LENGTH - 1536, done: true },
    ])
    await expect(c.read(65536, LENGTH, undefined, stale())).rejects.toMatchObject({
      code: 'NBD_INCOMPLETE_REPLY',
      retryable: false,
      details: { offset: 65536 + 1024, length: 512 },
    })
  })

  it('accepts chunks in any order that tile the read, and the client does not retry a lie', async () => {
    const c = await connect([
      { kind: 'data', at: 3072, length: 1024 },
      { kind: 'hole', at: 0, length: 1024 },
      { kind: 'data', at: 1024, length: 2048, done: true },
    ])
    const got = await c.read(0, LENGTH, undefined, stale())
    expect(got.subarray(0, 1024).every((b) => b === 0)).toBe(true)
    expect(got.subarray(1024).every((b) => b === 0x5a)).toBe(true)
    await c.close()
    await server?.close()

    server = await startScriptedServer({
      size: SIZE,
      structured: true,
      onRequest: (r, { socket }) =>
        socket.write(
          reply(r, [
            { kind: 'data', at: 0, length: r.length / 2 },
            { kind: 'data', at: 0, length: r.length / 2, done: true },
          ]),
        ),
    })
    const client = await NbdClient.open({
      host: '127.0.0.1',
      port: server.port,
      connections: 1,
      retryDelayMs: 1,
    })
    await expect(client.read(0, LENGTH)).rejects.toMatchObject({ code: 'NBD_OVERLAPPING_REPLY' })
    expect(server.connections).toBe(1) // not retried on a new connection: the server lies
    await client.close()
  })
})
