// The xapi profile at the byte level, as xapi-nbd answers (reference/xapi.md §5.2): what clients that
// are more demanding than ours would meet. Driven by a raw socket and the codec.
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { staticExports, type BlockSource } from './block-source.js'
import { ByteQueue } from '../byte-queue.js'
import { Cmd, CmdFlag, Errno, Opt, RepErr, SIMPLE_REPLY_MAGIC } from '../codec/constants.js'
import {
  decodeOptionReplyHeader,
  encodeGoPayload,
  encodeOption,
  OPTION_REPLY_HEADER_SIZE,
} from '../codec/handshake.js'
import { encodeRequest } from '../codec/transmission.js'
import { RecentReads } from './recent-reads.js'
import { NbdServer } from './server.js'

const SIZE = 1024 * 1024
const memory: BlockSource = {
  size: SIZE,
  read: async (offset, length) => Buffer.alloc(length, offset / 512),
}
let server: NbdServer

beforeAll(async () => {
  server = await NbdServer.listen({ profile: 'xapi', resolve: staticExports({ disk: memory }) })
})
afterAll(() => server.close())

async function open() {
  const socket = connect({ host: '127.0.0.1', port: server.port! })
  const queue = new ByteQueue()
  socket.on('data', (c: Buffer) => queue.consume(c))
  socket.on('close', () => queue.end(new Error('closed')))
  expect((await queue.read(18)).readUInt16BE(16)).toBe(1) // FIXED_NEWSTYLE only, never NO_ZEROES
  socket.write(Buffer.from([0, 0, 0, 1]))
  return { socket, queue }
}

describe('NbdServer xapi profile on the wire', () => {
  it('answers UNSUP to GO and POLICY to LIST, then serves EXPORT_NAME with the 134-byte reply', async () => {
    const { socket, queue } = await open()
    socket.write(encodeOption(Opt.GO, encodeGoPayload('disk', [])))
    expect(decodeOptionReplyHeader(await queue.read(OPTION_REPLY_HEADER_SIZE), Opt.GO).type).toBe(
      RepErr.UNSUP,
    )
    socket.write(encodeOption(Opt.LIST))
    expect(decodeOptionReplyHeader(await queue.read(OPTION_REPLY_HEADER_SIZE), Opt.LIST).type).toBe(
      RepErr.POLICY,
    )
    socket.write(encodeOption(Opt.EXPORT_NAME, Buffer.from('disk')))
    const reply = await queue.read(134)
    expect(Number(reply.readBigUInt64BE(0))).toBe(SIZE)
    expect(reply.readUInt16BE(8)).toBe(0x0003)
    expect(reply.subarray(10).equals(Buffer.alloc(124))).toBe(true)

    const request = (type: number, handle: number, offset: number, length: number, flags = 0): void => {
      socket.write(encodeRequest({ flags, type, handle, offset, length }))
    }
    const simple = async (): Promise<{ error: number; handle: number }> => {
      const r = await queue.read(16)
      expect(r.readUInt32BE(0)).toBe(SIMPLE_REPLY_MAGIC)
      return { error: r.readUInt32BE(4), handle: r.readUInt32BE(12) }
    }
    request(Cmd.WRITE, 1, 0, 512)
    socket.write(Buffer.alloc(512))
    expect(await simple()).toEqual({ error: Errno.EPERM, handle: 1 })
    request(Cmd.READ, 2, 0, 512, CmdFlag.FUA)
    expect(await simple()).toEqual({ error: Errno.EINVAL, handle: 2 })
    request(Cmd.READ, 3, 100, 512)
    expect(await simple()).toEqual({ error: Errno.EINVAL, handle: 3 })
    request(Cmd.BLOCK_STATUS, 4, 0, 512)
    expect(await simple()).toEqual({ error: Errno.EINVAL, handle: 4 })
    request(Cmd.READ, 5, 1024, 512)
    expect(await simple()).toEqual({ error: 0, handle: 5 })
    expect((await queue.read(512)).equals(Buffer.alloc(512, 2))).toBe(true)
    request(Cmd.DISC, 6, 0, 0)
    await expect(queue.read(1)).rejects.toBeDefined() // the server hangs up
  })

  it('closes the connection without a word on an unknown export', async () => {
    const { socket, queue } = await open()
    socket.write(encodeOption(Opt.EXPORT_NAME, Buffer.from('/no-such-vdi?session_id=x')))
    await expect(queue.read(1)).rejects.toBeDefined()
  })
})

describe('NbdServer handshake deadline', () => {
  it('hangs up on a client that says nothing, freeing its connection slot', async () => {
    const quiet = await NbdServer.listen({
      profile: 'xapi',
      resolve: staticExports({}),
      handshakeTimeoutMs: 150,
    })
    try {
      const socket = connect({ host: '127.0.0.1', port: quiet.port! })
      await new Promise((r) => socket.once('data', r)) // the greeting: the server has accepted us
      expect(quiet.connectionCount()).toBe(1)
      const started = Date.now()
      await new Promise((r) => socket.once('close', r))
      expect(Date.now() - started).toBeLessThan(3000)
      expect(quiet.connectionCount()).toBe(0)
    } finally {
      await quiet.close()
    }
  })
})

describe('RecentReads', () => {
  it('serves ranges inside what it holds and forgets the oldest beyond its budget', () => {
    const recent = new RecentReads(300)
    recent.add(0, Buffer.alloc(200, 1))
    recent.add(1000, Buffer.alloc(100, 2))
    expect(recent.find(50, 100)?.equals(Buffer.alloc(100, 1))).toBe(true)
    expect(recent.find(150, 100)).toBeUndefined()
    recent.add(2000, Buffer.alloc(100, 3))
    expect(recent.find(0, 10)).toBeUndefined()
    expect(recent.find(1000, 100)?.[0]).toBe(2)
  })
})
