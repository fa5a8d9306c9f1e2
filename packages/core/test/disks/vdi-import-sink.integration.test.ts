// The VDI import sink against the lab, in both of its formats (chunked raw frames, and the VHD it falls
// back to): chunks written in place through /import_raw_vdi, only those delivered, onto a new VDI or over
// a clone of older data; lists announced before their bytes, out-of-order and loose chunks, a fallback's
// new list, holes, a redirect, a failed import, and a pool that refuses chunked imports.
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LabPool } from '@strata/lab'
import { VdiImportSink } from '../../src/disks/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { XapiClient, createVdi, type Ref } from '../../src/xapi/index.js'

const MiB = 1024 * 1024
const BLOCK = 2 * MiB
const SIZE = 16 * MiB + 512 * 3 // a short last chunk, a whole number of sectors

let lab: LabPool
let xapi: XapiClient
let sr: Ref

beforeAll(async () => {
  requireBinary('mke2fs')
  lab = await LabPool.start({ hosts: 2, authFailureDelayMs: 10, dom0DetachMs: 20, vms: [] })
  xapi = new XapiClient(lab.connection)
  ;[sr] = (await xapi.call<Ref[]>('SR.get_all', [])) as [Ref]
})
afterEach(() => lab.faults.clear())
afterAll(async () => {
  await xapi?.close()
  await lab?.close()
})

const newVdi = (size = SIZE): Promise<Ref> =>
  createVdi(xapi, { name_label: 'target', virtual_size: size }, sr)
const chunk = (i: number): Buffer => randomBytes(Math.min(BLOCK, SIZE - i * BLOCK))
type Format = 'chunked' | 'vhd'

const part = (offset: number, length: number) => ({ offset, bytes: randomBytes(length) })

/** Bytes of an upload body of `frames` data ranges, or of a VHD of `blocks` blocks of this disk. */
const bodyLength = (format: Format, frames: number[], blocks: number): number =>
  format === 'chunked'
    ? frames.reduce((n, length) => n + 12 + length, 12)
    : // Footer copy, header, a BAT of 9 entries in one sector, blocks (bitmap + 2 MiB), footer.
      512 + 1024 + 512 + blocks * (512 + BLOCK) + 512

/** What the VDI should hold: `base` with the given chunks laid over it. */
function expected(base: Buffer, chunks: Map<number, Buffer>): Buffer {
  const out = Buffer.from(base)
  for (const [i, bytes] of chunks) bytes.copy(out, i * BLOCK)
  return out
}

describe.each<Format>(['chunked', 'vhd'])('VdiImportSink (%s)', (format) => {
  const sink = (vdi: Ref, zeroHoles = false) =>
    new VdiImportSink({ xapi, vdi, size: SIZE, zeroHoles, format, signal: AbortSignal.timeout(20_000) })

  it('writes a planned list in one upload, taking a chunk that comes early', async () => {
    const vdi = await newVdi()
    const data = new Map([1, 2, 5, 8].map((i) => [i, chunk(i)]))
    const target = sink(vdi)
    target.plan([1, 2, 5, 8])
    // 5 before 2: copied and sent in its turn.
    await Promise.all([target.put(1, data.get(1)!), target.put(5, data.get(5)!)])
    await target.put(2, data.get(2)!)
    await target.put(8, data.get(8)!)
    const figures = await target.finish()
    expect(figures).toEqual({
      uploads: 1,
      blocks: 4,
      bytesWritten: 4 * BLOCK - (BLOCK - 1536),
      bytesSent: bodyLength(format, [BLOCK, BLOCK, BLOCK, 1536], 4),
      format,
    })
    expect(target.bytesRead).toBe(figures.bytesWritten)
    expect((await lab.readDisk(vdi)).equals(expected(Buffer.alloc(SIZE), data))).toBe(true)
  })

  it('changes only the chunks delivered over a clone, and writes holes as zeros', async () => {
    const base = randomBytes(SIZE)
    const original = await newVdi()
    const first = sink(original)
    const all = Array.from({ length: 9 }, (_, i) => i)
    first.plan(all)
    for (const i of all) await first.put(i, base.subarray(i * BLOCK, (i + 1) * BLOCK))
    await first.finish()
    const clone = await xapi.call<Ref>('VDI.clone', [original, {}])
    const delta = new Map([0, 3].map((i) => [i, chunk(i)]))
    const target = sink(clone, true)
    target.plan([0, 3, 6])
    await target.put(0, delta.get(0)!)
    await target.put(3, delta.get(3)!)
    await target.putZero(6)
    const figures = await target.finish()
    expect(figures.bytesWritten).toBe(3 * BLOCK)
    expect(figures.bytesSent).toBe(bodyLength(format, [BLOCK, BLOCK, BLOCK], 3))
    const want = expected(base, new Map([...delta, [6, Buffer.alloc(BLOCK)]]))
    expect((await lab.readDisk(clone)).equals(want)).toBe(true)
    // The original is untouched: a failed write into the clone would have left it as it was.
    expect((await lab.readDisk(original)).equals(base)).toBe(true)
  })

  it('over a clone, sends only the changed parts of a chunk: XAPI writes their sectors, the rest stays', async () => {
    const base = randomBytes(SIZE)
    const original = await newVdi()
    const first = sink(original)
    first.plan([0, 1, 2, 3, 4, 5, 6, 7, 8])
    for (let i = 0; i <= 8; i++) await first.put(i, base.subarray(i * BLOCK, (i + 1) * BLOCK))
    await first.finish()
    const clone = await xapi.call<Ref>('VDI.clone', [original, {}])
    // Chunk 1 changed in two runs (one starting inside a bitmap byte), chunk 3 whole, and the short last
    // chunk (1536 bytes) in part of it.
    const parts = new Map([
      [1, [part(64 * 1024, 64 * 1024), part(MiB + 3 * 512, 5 * 512)]],
      [8, [part(512, 1024)]],
    ])
    const whole = chunk(3)
    const target = sink(clone, true)
    expect(target.partial).toBe(true)
    const ranges = (list: { offset: number; bytes: Buffer }[]) =>
      list.map((p) => ({ offset: p.offset, length: p.bytes.length }))
    target.plan([1, 3, 8], new Map([...parts].map(([i, list]) => [i, ranges(list)])))
    await target.putParts(1, parts.get(1)!)
    await target.put(3, whole)
    await target.putParts(8, parts.get(8)!)
    const figures = await target.finish()
    const changed = 64 * 1024 + 5 * 512 + BLOCK + 1024
    // Chunked: only the changed bytes cross (a frame header each); a VHD carries 2 MiB per block.
    const bytesSent = bodyLength(format, [64 * 1024, 5 * 512, BLOCK, 1024], 3)
    expect(figures).toEqual({ uploads: 1, blocks: 3, bytesWritten: changed, bytesSent, format })
    if (format === 'chunked') expect(bytesSent).toBe(changed + 5 * 12)
    expect(target.bytesRead).toBe(changed)
    const want = Buffer.from(base)
    whole.copy(want, 3 * BLOCK)
    for (const [i, list] of parts) for (const p of list) p.bytes.copy(want, i * BLOCK + p.offset)
    expect((await lab.readDisk(clone)).equals(want)).toBe(true)
    expect((await lab.readDisk(original)).equals(base)).toBe(true)
  })

  it('closes a list that a fallback replaced: what did not come is written by the next one', async () => {
    const vdi = await newVdi()
    const data = new Map([0, 1, 4, 6, 7].map((i) => [i, chunk(i)]))
    const target = sink(vdi)
    target.plan([0, 1, 4, 6])
    await target.put(0, data.get(0)!)
    // The first path failed after chunk 0: the next one names what is left, and one more.
    target.plan([1, 4, 6, 7])
    for (const i of [1, 4, 6, 7]) await target.put(i, data.get(i)!)
    const figures = await target.finish()
    expect(figures.uploads).toBe(2)
    expect((await lab.readDisk(vdi)).equals(expected(Buffer.alloc(SIZE), data))).toBe(true)
  })

  it('fails a copy whose source never delivered a chunk it planned (chunked: its frame went as zeros)', async () => {
    const base = randomBytes(SIZE)
    const vdi = await newVdi()
    const first = sink(vdi)
    first.plan([2])
    await first.put(2, base.subarray(2 * BLOCK, 3 * BLOCK))
    await first.finish()
    const target = sink(vdi, true)
    target.plan([1, 2])
    await target.put(1, chunk(1))
    target.plan([3]) // chunk 2 never comes again
    await target.put(3, chunk(3))
    if (format === 'chunked') {
      await expect(target.finish()).rejects.toMatchObject({ code: 'DISK_SOURCE_INVALID' })
    } else {
      await target.finish() // an empty VHD block writes nothing: chunk 2 stays as it was
      expect(
        (await lab.readDisk(vdi)).subarray(2 * BLOCK, 3 * BLOCK).equals(base.subarray(2 * BLOCK, 3 * BLOCK)),
      ).toBe(true)
    }
  })

  it('sends chunks of a source that names no list in batches', async () => {
    const vdi = await newVdi()
    const data = new Map([7, 2, 3].map((i) => [i, chunk(i)]))
    const target = sink(vdi)
    for (const [i, bytes] of data) await target.put(i, bytes)
    await target.putZero(4) // a new VDI reads as zeros already: nothing to send
    const figures = await target.finish()
    const bytesSent = bodyLength(format, [BLOCK, BLOCK, BLOCK], 3)
    expect(figures).toEqual({ uploads: 1, blocks: 3, bytesWritten: 3 * BLOCK, bytesSent, format })
    expect((await lab.readDisk(vdi)).equals(expected(Buffer.alloc(SIZE), data))).toBe(true)
  })

  it('follows a redirect to the host of the SR without spending the body on it', async () => {
    const vdi = await newVdi()
    const data = new Map([3, 4].map((i) => [i, chunk(i)]))
    lab.faults.failHttp('/import_raw_vdi', { kind: 'redirect' })
    const target = sink(vdi)
    target.plan([3, 4])
    for (const [i, bytes] of data) await target.put(i, bytes)
    await target.finish()
    expect((await lab.readDisk(vdi)).equals(expected(Buffer.alloc(SIZE), data))).toBe(true)
  })

  it('fails every later call once an import failed, and lets go of what waited', async () => {
    const vdi = await newVdi()
    lab.faults.failHttp('/import_raw_vdi', { kind: 'cut', afterBytes: BLOCK })
    const target = sink(vdi)
    target.plan([0, 1, 2, 3])
    // The socket may take every block before the cut is seen: each put settles, none hangs.
    const puts = [0, 1, 2, 3].map((i) => target.put(i, chunk(i)))
    expect(await Promise.allSettled(puts)).toHaveLength(4)
    await expect(target.finish()).rejects.toMatchObject({ code: 'VDI_IO_ERROR' })
    await expect(target.put(5, chunk(5))).rejects.toMatchObject({ code: 'VDI_IO_ERROR' })
  })

  it('ends an upload waiting for chunks when the source failed (abort)', async () => {
    const vdi = await newVdi()
    const target = sink(vdi)
    target.plan([0, 1])
    await target.put(0, chunk(0))
    const reason = new Error('the source failed')
    await target.abort(reason)
    await expect(target.finish()).rejects.toBe(reason)
    // Nothing of the VDI is held by a transfer any more.
    await new Promise((r) => setTimeout(r, 100))
    expect(await xapi.call('VDI.get_VBDs', [vdi])).toEqual([])
  })
})

describe('VdiImportSink on a pool that refuses chunked imports', () => {
  it('sends the refused upload as a VHD, says so once, and goes straight to VHD on that pool after', async () => {
    // A client of its own: the refusal is remembered per pool client.
    const own = new XapiClient(lab.connection)
    try {
      lab.faults.refuseChunkedImport = true
      const warnings: string[] = []
      const base = randomBytes(SIZE)
      const original = await newVdi()
      const open = (vdi: Ref, zeroHoles: boolean) =>
        new VdiImportSink({
          xapi: own,
          vdi,
          size: SIZE,
          zeroHoles,
          signal: AbortSignal.timeout(20_000),
          warn: (message) => warnings.push(message),
        })
      const first = open(original, false)
      first.plan([0, 1, 2, 3, 4, 5, 6, 7, 8])
      for (let i = 0; i <= 8; i++) await first.put(i, base.subarray(i * BLOCK, (i + 1) * BLOCK))
      const full = await first.finish()
      expect(full).toMatchObject({ format: 'vhd', uploads: 1, bytesSent: bodyLength('vhd', [], 9) })
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/refuses chunked raw imports .*Cannot handle chunked.*VHD imports/)
      expect((await lab.readDisk(original)).equals(base)).toBe(true)
      // A delta in parts, on the same pool: a VHD at once (the refusal is not asked again), said again.
      const clone = await own.call<Ref>('VDI.clone', [original, {}])
      const delta = open(clone, true)
      const runs = [part(128 * 1024, 64 * 1024)]
      delta.plan([4], new Map([[4, [{ offset: 128 * 1024, length: 64 * 1024 }]]]))
      await delta.putParts(4, runs)
      const figures = await delta.finish()
      expect(figures).toMatchObject({
        format: 'vhd',
        bytesWritten: 64 * 1024,
        bytesSent: bodyLength('vhd', [], 1),
      })
      expect(warnings).toHaveLength(2)
      expect(warnings[1]).toMatch(/refused chunked raw imports earlier/)
      const want = Buffer.from(base)
      runs[0]!.bytes.copy(want, 4 * BLOCK + 128 * 1024)
      expect((await lab.readDisk(clone)).equals(want)).toBe(true)
    } finally {
      await own.close()
    }
  })
})
