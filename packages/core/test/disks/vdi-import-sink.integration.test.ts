// The VDI import sink against the lab: chunks written in place through /import_raw_vdi?format=vhd, only
// those delivered, onto a new VDI or over a clone of older data; lists announced before their bytes,
// out-of-order and loose chunks, a fallback's new list, holes, a redirect, and a failed import.
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
const sink = (vdi: Ref, zeroHoles = false) =>
  new VdiImportSink({ xapi, vdi, size: SIZE, zeroHoles, signal: AbortSignal.timeout(20_000) })

const part = (offset: number, length: number) => ({ offset, bytes: randomBytes(length) })

/** What the VDI should hold: `base` with the given chunks laid over it. */
function expected(base: Buffer, chunks: Map<number, Buffer>): Buffer {
  const out = Buffer.from(base)
  for (const [i, bytes] of chunks) bytes.copy(out, i * BLOCK)
  return out
}

describe('VdiImportSink', () => {
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
    expect(figures).toMatchObject({ uploads: 1, blocks: 4, bytesWritten: 4 * BLOCK - (BLOCK - 1536) })
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
    target.plan([1, 3, 8])
    await target.putParts(1, parts.get(1)!)
    await target.put(3, whole)
    await target.putParts(8, parts.get(8)!)
    const figures = await target.finish()
    const changed = 64 * 1024 + 5 * 512 + BLOCK + 1024
    expect(figures).toMatchObject({ uploads: 1, blocks: 3, bytesWritten: changed })
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

  it('sends chunks of a source that names no list in batches', async () => {
    const vdi = await newVdi()
    const data = new Map([7, 2, 3].map((i) => [i, chunk(i)]))
    const target = sink(vdi)
    for (const [i, bytes] of data) await target.put(i, bytes)
    await target.putZero(4) // a new VDI reads as zeros already: nothing to send
    const figures = await target.finish()
    expect(figures).toMatchObject({ uploads: 1, blocks: 3 })
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
