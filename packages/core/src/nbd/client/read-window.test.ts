// What the client lends: pieces come from the injected allocator and go back to it exactly once, when
// released by the reader or (for pieces never handed out) once their reads completed; a buffer a request
// was given up on is never handed to anyone else, since the server may still answer into it.
import { afterEach, describe, expect, it } from 'vitest'
import { BufferPool, type BufferAllocator, type Lease } from '../../shared/lease.js'
import { encodeSimpleReply } from '../codec/transmission.js'
import type { WireRequest } from '../codec/transmission.js'
import { startScriptedServer, type ScriptedServer } from '../testing/scripted-server.js'
import { NbdClient } from './client.js'

const SIZE = 8 * 1024 * 1024
const REQUEST = 64 * 1024
let server: ScriptedServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

const byteAt = (offset: number): number => offset % 251

function answer(r: WireRequest): Buffer {
  const data = Buffer.alloc(r.length)
  for (let i = 0; i < r.length; i++) data[i] = byteAt(r.offset + i)
  return Buffer.concat([encodeSimpleReply(0, r.handle), data])
}

/** Counts leases and releases, and the sizes of the requests the server saw. */
class CountingPool implements BufferAllocator {
  readonly pool = new BufferPool({ shared: true })
  leased = 0
  released = 0
  lease(length: number): Lease {
    const inner = this.pool.lease(length)
    this.leased++
    return {
      bytes: inner.bytes,
      release: () => {
        inner.release()
        this.released++
      },
    }
  }
}

async function open(onRequest: (r: WireRequest, reply: () => void) => void, allocator: BufferAllocator) {
  const sizes: number[] = []
  server = await startScriptedServer({
    size: SIZE,
    onRequest: (r, { socket }) => {
      sizes.push(r.length)
      onRequest(r, () => socket.write(answer(r)))
    },
  })
  const client = await NbdClient.open({
    host: '127.0.0.1',
    port: server.port,
    connections: 1,
    inFlight: 4,
    requestSize: REQUEST,
    retries: 0,
    allocator,
  })
  return { client, sizes }
}

const correct = (offset: number, bytes: Buffer): boolean => bytes.every((b, i) => b === byteAt(offset + i))

describe('NbdClient leases', () => {
  it('reads whole ranges larger than a request into one leased buffer each', async () => {
    const pool = new CountingPool()
    const { client, sizes } = await open((_r, reply) => reply(), pool)
    const ranges = [0, 5, 2].map((i) => ({ offset: i * 200_000, length: 200_000 }))
    const seen: number[] = []
    for await (const piece of client.readRanges(ranges, { whole: true })) {
      expect(piece.bytes.length).toBe(200_000)
      expect(piece.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
      expect(correct(piece.offset, piece.bytes)).toBe(true)
      seen.push(piece.offset)
      piece.release()
      expect(() => piece.release()).toThrow(expect.objectContaining({ code: 'LEASE_RELEASED' }))
    }
    expect(seen).toEqual([0, 1_000_000, 400_000]) // ordered by default
    expect(Math.max(...sizes)).toBe(REQUEST) // the request limit still holds
    expect(sizes).toHaveLength(3 * 4) // 200,000 bytes: 3 full requests and a short one each
    expect([pool.leased, pool.released]).toEqual([3, 3])
    await client.close()
  })

  it('gives back the pieces it read but never handed out when the reader stops early', async () => {
    const pool = new CountingPool()
    const { client } = await open((_r, reply) => reply(), pool)
    for await (const piece of client.readRanges([{ offset: 0, length: 40 * REQUEST }])) {
      await new Promise((r) => setTimeout(r, 100)) // the window's other reads complete meanwhile
      piece.release()
      break
    }
    expect(pool.leased).toBe(4) // the window (4 requests), the first of them taken
    expect(pool.released).toBe(pool.leased)
    expect(pool.pool.lent).toBe(0)
    await client.close()
  })

  it('never gives back a buffer whose request was given up on (abort)', async () => {
    const pool = new CountingPool()
    const held: (() => void)[] = []
    const { client } = await open((_r, reply) => held.push(reply), pool)
    const controller = new AbortController()
    const reading = (async () => {
      for await (const piece of client.readRanges([{ offset: 0, length: 4 * REQUEST }], {
        signal: controller.signal,
      }))
        piece.release()
    })()
    while (held.length < 4) await new Promise((r) => setTimeout(r, 5))
    controller.abort()
    await expect(reading).rejects.toMatchObject({ code: 'ABORTED' })
    for (const reply of held) reply() // the server answers late, into the abandoned buffers
    await new Promise((r) => setTimeout(r, 100))
    expect(pool.leased).toBe(4)
    expect(pool.released).toBe(0)
    // New reads get fresh buffers: none of the four the late answers were written into.
    const before = pool.pool.made
    const fresh = await open((_r, reply) => reply(), pool)
    for await (const piece of fresh.client.readRanges([{ offset: REQUEST, length: REQUEST }])) {
      expect(correct(piece.offset, piece.bytes)).toBe(true)
      piece.release()
    }
    expect(pool.pool.made).toBe(before + 1)
    await fresh.client.close()
    client.close().catch(() => {})
  })
})
