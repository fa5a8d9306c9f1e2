// PUT /import_raw_vdi?format=raw&chunked against the lab, on a seeded disk holding a filesystem: frames
// land in place (the rest of the disk untouched, CBT marking exactly their blocks), and every malformed
// body fails the task with VDI_IO_ERROR ["Device I/O errors"], as vhd-tool makes xapi do. The frames are
// built here by hand, not with Strata's encoder, so that one cannot hide a mistake of the other.
import { randomBytes } from 'node:crypto'
import { request } from 'node:https'
import { Readable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { XapiClient, createTask, decodeCbtBitmap, importVdi, waitTask } from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'

const KiB = 1024
const MiB = 1024 * KiB

function frame(offset: number, data: Buffer, length = data.length): Buffer {
  const head = Buffer.alloc(12)
  head.writeBigUInt64LE(BigInt(offset), 0)
  head.writeUInt32LE(length, 8)
  return Buffer.concat([head, data])
}
const END = Buffer.alloc(12)

describe('chunked raw imports into the lab', () => {
  let lab: LabPool
  let xapi: XapiClient
  let disk: string
  let size: number

  /** A fresh clone of the seeded disk (ext4 written by mke2fs), with CBT on, to import into. */
  async function clone(): Promise<string> {
    const vdi = await xapi.call<string>('VDI.clone', [disk, {}])
    await xapi.call('VDI.enable_cbt', [vdi])
    return vdi
  }

  /** Sends `body` announcing `length` bytes; resolves to the HTTP status and the task's verdict. */
  async function put(
    vdi: string,
    body: Buffer,
    options: { length?: number; format?: string; hangUp?: boolean } = {},
  ): Promise<{ status: number; verdict: Promise<unknown> }> {
    const task = await createTask(xapi, 'chunked import')
    const url = new URL('/import_raw_vdi', lab.url)
    url.search = new URLSearchParams({
      vdi,
      format: options.format ?? 'raw',
      chunked: '',
      session_id: xapi.sessionRef(),
      task_id: task,
    }).toString()
    const req = request(url, {
      method: 'PUT',
      agent: xapi.trust.agent(false),
      headers: { 'content-length': options.length ?? body.length },
    })
    req.on('error', () => undefined)
    const response = new Promise<number>((resolve) => req.once('response', (r) => resolve(r.statusCode!)))
    req.write(body)
    const status = await response
    if (options.hangUp === true) req.destroy()
    const verdict = waitTask(xapi, task).finally(() => req.destroy())
    verdict.catch(() => undefined)
    return { status, verdict }
  }

  /** The VDI's changed 64 KiB blocks since its last snapshot, as [first byte, bytes] runs. */
  async function changedSince(snapshot: string, vdi: string): Promise<[number, number][]> {
    const after = await xapi.call<string>('VDI.snapshot', [vdi, {}])
    const bitmap = decodeCbtBitmap(await xapi.call<string>('VDI.list_changed_blocks', [snapshot, after]))
    const runs: [number, number][] = []
    for (const [block, extents] of bitmap.changedExtents(2 * MiB, size))
      for (const e of extents) runs.push([block * 2 * MiB + e.offset, e.length])
    return runs
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'src', power: 'Halted', disks: [8] }],
    })
    xapi = new XapiClient(lab.connection)
    disk = lab.guest.disks(lab.ref('VM', 'src'))[0]!
    size = Number(lab.state.db.get('VDI', disk).virtual_size)
  })
  afterEach(() => lab.faults.clear())
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  it('writes each frame in place and nothing else, marking exactly its blocks in CBT', async () => {
    const vdi = await clone()
    const before = await lab.readDisk(vdi)
    expect(before.some((b) => b !== 0)).toBe(true) // a filesystem, not zeros
    const snapshot = await xapi.call<string>('VDI.snapshot', [vdi, {}])
    // A whole aligned block, a 64 KiB run, an unaligned range spanning two blocks, the disk's last bytes,
    // then the first block again (its first write must have landed before it is read to lay this one).
    const writes: [number, Buffer][] = [
      [2 * MiB, randomBytes(2 * MiB)],
      [64 * KiB * 70, randomBytes(64 * KiB)],
      [6 * MiB - 1000, randomBytes(3000)],
      [size - 512, randomBytes(512)],
      [2 * MiB + 4096, randomBytes(100)], // the first block again, over the first frame's bytes
    ]
    const body = Buffer.concat([
      ...writes.map(([at, data]) => frame(at, data)),
      frame(777, Buffer.alloc(0)),
      END,
    ])
    await importVdi(
      xapi,
      vdi,
      { open: () => Readable.from([body]), length: body.length },
      {
        format: 'raw',
        chunked: true,
      },
    )
    const expected = Buffer.from(before)
    for (const [at, data] of writes) data.copy(expected, at)
    expect((await lab.readDisk(vdi)).equals(expected)).toBe(true)
    expect(await changedSince(snapshot, vdi)).toEqual([
      [2 * MiB, 2 * MiB],
      [64 * KiB * 70, 64 * KiB],
      [6 * MiB - 64 * KiB, 64 * KiB], // runs are cut at 2 MiB block boundaries
      [6 * MiB, 64 * KiB],
      [size - 64 * KiB, 64 * KiB],
    ])
  })

  it('fails every malformed body with VDI_IO_ERROR, what came before the fault staying written', async () => {
    const good = randomBytes(64 * KiB)
    const cases: Record<string, { body: Buffer; length?: number }> = {
      'a frame past the end of the VDI': { body: Buffer.concat([frame(size - 512, randomBytes(1024)), END]) },
      'a frame cut short': { body: frame(0, randomBytes(64 * KiB)).subarray(0, 40_000) },
      'a header cut short': { body: Buffer.concat([frame(0, good), END.subarray(0, 7)]) },
      'no terminating frame': { body: frame(0, good) },
      'garbage after the terminating frame': { body: Buffer.concat([frame(0, good), END, Buffer.from('x')]) },
      'a Content-Length past the terminator': {
        body: Buffer.concat([frame(0, good), END, Buffer.alloc(100)]),
      },
      'a Content-Length short of the terminator': {
        body: Buffer.concat([frame(0, good), END]),
        length: 12 + good.length,
      },
    }
    for (const [what, { body, length }] of Object.entries(cases)) {
      const vdi = await clone()
      const before = await lab.readDisk(vdi)
      const { status, verdict } = await put(vdi, body, { length: length ?? body.length })
      expect(status, what).toBe(200)
      await expect(verdict, what).rejects.toMatchObject({
        code: 'VDI_IO_ERROR',
        params: ['Device I/O errors'],
      })
      const after = await lab.readDisk(vdi)
      if (what === 'a frame past the end of the VDI' || what === 'a frame cut short')
        expect(after.equals(before), what).toBe(true)
      else expect(after.subarray(0, good.length).equals(good), what).toBe(true)
    }
  })

  it('fails a body shorter than its Content-Length, once the client gives up', async () => {
    const vdi = await clone()
    const body = Buffer.concat([frame(0, randomBytes(64 * KiB)), END])
    const { verdict } = await put(vdi, body, { length: body.length + 4096, hangUp: true })
    await expect(verdict).rejects.toMatchObject({ code: 'VDI_IO_ERROR', params: ['Device I/O errors'] })
  })

  it('refuses chunked with a VHD (404), and any chunked import on a pool told to refuse it', async () => {
    const vdi = await clone()
    const body = Buffer.concat([frame(0, randomBytes(512)), END])
    const vhd = await put(vdi, body, { format: 'vhd' })
    expect(vhd.status).toBe(404)
    await expect(vhd.verdict).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
      params: ['Cannot handle chunked VHD'],
    })
    lab.faults.refuseChunkedImport = true
    const raw = await put(vdi, body)
    expect(raw.status).toBe(404)
    await expect(raw.verdict).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
      params: ['Cannot handle chunked raw'],
    })
    const refused = importVdi(
      xapi,
      vdi,
      { open: () => Readable.from([body]), length: body.length },
      {
        format: 'raw',
        chunked: true,
      },
    )
    await expect(refused).rejects.toMatchObject({ code: 'INTERNAL_ERROR' })
  })

  it('keeps the HTTP faults: a cut import and a task failing after the body', async () => {
    const data = randomBytes(4 * MiB)
    const body = Buffer.concat([
      frame(0, data.subarray(0, 2 * MiB)),
      frame(4 * MiB, data.subarray(2 * MiB)),
      END,
    ])
    const vdi = await clone()
    const before = await lab.readDisk(vdi)
    lab.faults.failHttp('/import_raw_vdi', { kind: 'cut', afterBytes: 2 * MiB + 12 + 1000 })
    const upload = { open: () => Readable.from([body]), length: body.length }
    await expect(importVdi(xapi, vdi, upload, { format: 'raw', chunked: true })).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
    })
    const cut = await lab.readDisk(vdi)
    expect(cut.subarray(0, 2 * MiB).equals(data.subarray(0, 2 * MiB))).toBe(true)
    expect(cut.subarray(4 * MiB, 6 * MiB).equals(before.subarray(4 * MiB, 6 * MiB))).toBe(true)
    lab.faults.failHttp('/import_raw_vdi', { kind: 'task-failure', code: 'SR_BACKEND_FAILURE_44' })
    await expect(importVdi(xapi, vdi, upload, { format: 'raw', chunked: true })).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_44',
    })
    await importVdi(xapi, vdi, upload, { format: 'raw', chunked: true })
    const done = await lab.readDisk(vdi)
    expect(done.subarray(4 * MiB, 6 * MiB).equals(data.subarray(2 * MiB))).toBe(true)
  })
})
