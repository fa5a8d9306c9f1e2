import { describe, expect, it } from 'vitest'
import { Cmd, Errno, Info, ReplyFlag, ReplyType, SIMPLE_REPLY_MAGIC } from './constants.js'
import {
  applyInfo,
  decodeGoPayload,
  decodeGreeting,
  decodeMetaContextPayload,
  encodeGoPayload,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeMetaContextPayload,
} from './handshake.js'
import { ReplyDecoder, type InFlight } from './reply-decoder.js'
import {
  decodeRequest,
  encodeBlockStatusPayload,
  encodeBlockStatusReply,
  encodeErrorPayload,
  encodeOffset,
  encodeOffsetDataHeader,
  encodeRequest,
  encodeSimpleReply,
  encodeStructuredHeader,
  writeHandle,
} from './transmission.js'

const handleBytes = (h: number): Buffer => {
  const b = Buffer.alloc(8)
  writeHandle(b, h, 0)
  return b
}

function harness(structured: boolean, requests: InFlight[]) {
  const done: InFlight[] = []
  const byHandle = new Map(requests.map((r) => [r.handle, r]))
  const decoder = new ReplyDecoder(
    { lookup: (h) => byHandle.get(h), complete: (r) => done.push(r) },
    { structured, stagingSize: 64 },
  )
  return { decoder, done }
}

const read = (handle: number, offset: number, length: number): InFlight => ({
  handle,
  command: Cmd.READ,
  offset,
  length,
  data: Buffer.alloc(length, 0xee),
  extents: new Map(),
})

describe('NBD codec', () => {
  it('round-trips the handshake messages', () => {
    expect(decodeGreeting(encodeGreeting(3))).toBe(3)
    expect(decodeGoPayload(encodeGoPayload('/uuid?session_id=x', [Info.BLOCK_SIZE]))).toEqual({
      exportName: '/uuid?session_id=x',
      infos: [Info.BLOCK_SIZE],
    })
    expect(
      decodeMetaContextPayload(encodeMetaContextPayload('disk', ['base:allocation', 'qemu:dirty-bitmap:b'])),
    ).toEqual({
      exportName: 'disk',
      queries: ['base:allocation', 'qemu:dirty-bitmap:b'],
    })
    const info = applyInfo(
      applyInfo({}, encodeInfoExport(2 ** 40, 0x103)),
      encodeInfoBlockSize(512, 4096, 1 << 25),
    )
    expect(info).toEqual({
      size: 2 ** 40,
      flags: 0x103,
      minimumBlockSize: 512,
      preferredBlockSize: 4096,
      maximumBlockSize: 1 << 25,
    })
  })

  it('refuses a greeting that is not NBD', () => {
    expect(() => decodeGreeting(Buffer.alloc(18))).toThrow(expect.objectContaining({ code: 'NBD_BAD_MAGIC' }))
  })

  it('round-trips requests with large offsets and handles', () => {
    const b = encodeRequest({
      flags: 0,
      type: Cmd.READ,
      handle: 2 ** 40 + 7,
      offset: 2 ** 42 + 512,
      length: 1 << 21,
    })
    const r = decodeRequest(b)
    expect(r).toMatchObject({ flags: 0, type: Cmd.READ, offset: 2 ** 42 + 512, length: 1 << 21 })
    expect(r.handle.equals(handleBytes(2 ** 40 + 7))).toBe(true)
  })

  it('refuses request offsets beyond 2^53 - 1', () => {
    const b = encodeRequest({ flags: 0, type: Cmd.READ, handle: 1, offset: 0, length: 512 })
    b.writeUInt32BE(2 ** 21, 16) // offset 2^53
    expect(() => decodeRequest(b)).toThrow(/offset out of range/)
    b.writeUInt32BE(2 ** 21 - 1, 16)
    b.writeUInt32BE(2 ** 32 - 1, 20)
    expect(decodeRequest(b).offset).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('encodes one-buffer read and block status replies as the parts would be', () => {
    const handle = handleBytes(2 ** 40 + 9)
    expect(encodeOffsetDataHeader(handle, 2 ** 42 + 4096, 65536)).toEqual(
      Buffer.concat([
        encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, handle, 8 + 65536),
        encodeOffset(2 ** 42 + 4096),
      ]),
    )
    const extents = [
      { offset: 0, length: 4096, flags: 3 },
      { offset: 4096, length: 8192, flags: 0 },
    ]
    const payload = encodeBlockStatusPayload(1, extents)
    expect(encodeBlockStatusReply(handle, 1, extents)).toEqual(
      Buffer.concat([
        encodeStructuredHeader(ReplyFlag.DONE, ReplyType.BLOCK_STATUS, handle, payload.length),
        payload,
      ]),
    )
  })

  it('decodes simple replies fed one byte at a time', () => {
    const a = read(1, 0, 100)
    const b = read(2, 100, 50)
    const { decoder, done } = harness(false, [a, b])
    const payload = Buffer.alloc(100, 7)
    const stream = Buffer.concat([
      encodeSimpleReply(0, handleBytes(2)),
      Buffer.alloc(50, 9),
      encodeSimpleReply(0, handleBytes(1)),
      payload,
    ])
    for (let i = 0; i < stream.length; i++) decoder.consume(stream.subarray(i, i + 1))
    expect(done.map((r) => r.handle)).toEqual([2, 1])
    expect(a.data!.equals(payload)).toBe(true)
    expect(b.data!.equals(Buffer.alloc(50, 9))).toBe(true)
    expect(decoder.idle).toBe(true)
  })

  it('reads payloads straight into the destination through receiveBuffer', () => {
    const a = read(1, 0, 1 << 20)
    const { decoder, done } = harness(false, [a])
    decoder.consume(encodeSimpleReply(0, handleBytes(1)))
    const direct = decoder.receiveBuffer()
    expect(direct.buffer).toBe(a.data!.buffer)
    direct.fill(5)
    decoder.received(direct.length, direct)
    expect(done).toEqual([a])
    expect(a.data!.every((x) => x === 5)).toBe(true)
  })

  it('decodes structured errors, block status and NONE chunks', () => {
    const r = read(1, 0, 4096)
    const s: InFlight = {
      handle: 2,
      command: Cmd.BLOCK_STATUS,
      offset: 4096,
      length: 8192,
      extents: new Map(),
    }
    const { decoder, done } = harness(true, [r, s])
    const err = encodeErrorPayload(Errno.EIO, 'disk on fire')
    const bs = encodeBlockStatusPayload(1, [
      { offset: 0, length: 4096, flags: 3 },
      { offset: 0, length: 4096, flags: 0 },
    ])
    decoder.consume(
      Buffer.concat([
        encodeStructuredHeader(0, ReplyType.ERROR, handleBytes(1), err.length),
        err,
        encodeStructuredHeader(ReplyFlag.DONE, ReplyType.NONE, handleBytes(1), 0),
        encodeStructuredHeader(ReplyFlag.DONE, ReplyType.BLOCK_STATUS, handleBytes(2), bs.length),
        bs,
      ]),
    )
    expect(done).toEqual([r, s])
    expect(r.error).toEqual({ errno: Errno.EIO, message: 'disk on fire' })
    expect(s.extents.get(1)).toEqual([
      { offset: 4096, length: 4096, flags: 3 },
      { offset: 8192, length: 4096, flags: 0 },
    ])
  })

  it('refuses structured replies that were not negotiated, and malformed chunks', () => {
    const { decoder } = harness(false, [read(1, 0, 512)])
    expect(() => decoder.consume(encodeStructuredHeader(1, ReplyType.NONE, handleBytes(1), 0))).toThrow(
      expect.objectContaining({ code: 'NBD_BAD_MAGIC' }),
    )
    const r = read(1, 0, 512)
    const s = harness(true, [r])
    expect(() =>
      s.decoder.consume(encodeStructuredHeader(1, ReplyType.OFFSET_HOLE, handleBytes(1), 13)),
    ).toThrow(expect.objectContaining({ code: 'NBD_OVERSIZED_REPLY' }))
    const t = harness(true, [read(1, 0, 512)])
    expect(() =>
      t.decoder.consume(Buffer.concat([encodeStructuredHeader(1, 77, handleBytes(1), 0)])),
    ).toThrow(expect.objectContaining({ code: 'NBD_PROTOCOL' }))
    expect(encodeOffset(5).length).toBe(8)
    expect(SIMPLE_REPLY_MAGIC).toBe(0x67446698)
  })
})
