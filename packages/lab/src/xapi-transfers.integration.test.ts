// HTTP transfers between the client and the lab, checked against qemu-img: raw and VHD exports (full
// and delta), imports, and the handlers' quirks (302, cut streams, garbage bodies, failed tasks).
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { XapiClient, callAsync, createVdi, exportVdi, importVdi, waitTask } from '@strata/core/xapi'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { openVhdStream, planVhd, writeVhd } from '@strata/core/vhd'
import { LabPool } from './lab-pool.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** Turns a differencing VHD into a dynamic one (type 3, checksum fixed) so that qemu-img reads its blocks. */
function asDynamic(vhd: Buffer): Buffer {
  const out = Buffer.from(vhd)
  for (const at of [0, out.length - 512]) {
    const footer = out.subarray(at, at + 512)
    footer.writeUInt32BE(3, 60)
    footer.writeUInt32BE(0, 64)
    let sum = 0
    for (const b of footer) sum += b
    footer.writeUInt32BE(~sum >>> 0, 64)
  }
  return out
}

describe('HTTP transfers against the lab, checked with qemu-img', () => {
  let lab: LabPool
  let client: XapiClient
  let scratch: Scratch
  let vm: string
  let vdi: string
  const bytesOf = (ref: string) => lab.state.disks.read(ref, 0, lab.state.disks.size(ref))
  /** A new empty user VDI on the pool's SR, to import into. */
  const newVdi = async (name: string, size: number): Promise<string> => {
    const [sr] = await client.call<string[]>('SR.get_all', [])
    return createVdi(client, { name_label: name, virtual_size: size }, sr!)
  }

  beforeAll(async () => {
    requireBinary('qemu-img')
    requireBinary('mke2fs')
    scratch = await scratchDir()
    lab = await LabPool.start({
      hosts: 2,
      authFailureDelayMs: 10,
      nbd: false,
      vms: [{ name: 'db-01', power: 'Halted', disks: [12] }],
    })
    client = new XapiClient(lab.connection)
    vm = lab.ref('VM', 'db-01')
    vdi = lab.guest.disks(vm)[0]!
  })
  afterEach(() => lab.faults.clear())
  afterAll(async () => {
    await client?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('exports raw bytes equal to the VDI', async () => {
    const got = await collect(await exportVdi(client, vdi, { format: 'raw' }))
    expect(got.equals(await bytesOf(vdi))).toBe(true)
  })

  it('follows a 302 to the other host', async () => {
    lab.faults.failHttp('/export_raw_vdi', { kind: 'redirect' })
    const got = await collect(await exportVdi(client, vdi, { format: 'raw' }))
    expect(got.length).toBe(12 * MiB)
  })

  it('detects a stream cut short, a garbage body and a task failing after the 200', async () => {
    lab.faults.failHttp('/export_raw_vdi', { kind: 'cut', afterBytes: 3 * MiB })
    await expect(collect(await exportVdi(client, vdi, { format: 'raw' }))).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
    })
    lab.faults.failHttp('/export_raw_vdi', { kind: 'garbage' })
    await expect(collect(await exportVdi(client, vdi, { format: 'vhd' }))).rejects.toMatchObject({
      code: 'SR_BACKEND_FAILURE_46',
    })
    lab.faults.failHttp('/export_raw_vdi', {
      kind: 'task-failure',
      code: 'VDI_IO_ERROR',
      params: ['Device I/O errors'],
    })
    await expect(collect(await exportVdi(client, vdi, { format: 'raw' }))).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
    })
  })

  it('stops an export when the caller aborts, and cancels its task', async () => {
    const controller = new AbortController()
    const stream = await exportVdi(client, vdi, { format: 'raw', signal: controller.signal })
    const it = stream[Symbol.asyncIterator]()
    await it.next()
    controller.abort(new Error('user stop'))
    const rest = (async () => {
      for (let n = await it.next(); n.done !== true; n = await it.next());
    })()
    await expect(rest).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('exports at the speed of slow disks', async () => {
    lab.state.diskBytesPerSecond = 24 * MiB // 12 MiB: about half a second
    try {
      const started = Date.now()
      const bytes = await collect(await exportVdi(client, vdi, { format: 'raw' }))
      expect(bytes.length).toBe(12 * MiB)
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
    } finally {
      lab.state.diskBytesPerSecond = undefined
    }
  })

  it('gives up on a stalled export', async () => {
    lab.faults.failHttp('/export_raw_vdi', { kind: 'stall', afterBytes: MiB })
    const stream = await exportVdi(client, vdi, { format: 'raw', inactivityTimeoutMs: 300 })
    await expect(collect(stream)).rejects.toMatchObject({ code: 'XAPI_TRANSFER_STALLED' })
  })

  it('exports a full VHD that qemu-img converts to the VDI bytes', async () => {
    const vhd = await collect(await exportVdi(client, vdi, { format: 'vhd' }))
    await writeFile(scratch.path('full.vhd'), vhd)
    const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'vpc', scratch.path('full.vhd')])
    expect(JSON.parse(stdout)['virtual-size']).toBe(12 * MiB)
    await run('qemu-img', [
      'convert',
      '-f',
      'vpc',
      '-O',
      'raw',
      scratch.path('full.vhd'),
      scratch.path('full.raw'),
    ])
    expect((await readFile(scratch.path('full.raw'))).equals(await bytesOf(vdi))).toBe(true)
  })

  it('exports a delta VHD that, written onto the base snapshot, gives the new snapshot', async () => {
    const base = await callAsync<string>(client, 'VDI.snapshot', [vdi, {}])
    await lab.guest.write(vdi, 5 * MiB + 4096, Buffer.alloc(100_000, 0xab))
    await lab.guest.write(vdi, 11 * MiB, Buffer.alloc(512, 0xcd))
    const next = await callAsync<string>(client, 'VDI.snapshot', [vdi, {}])
    const delta = await collect(await exportVdi(client, next, { format: 'vhd', base }))
    // Blocks 2 (5 MiB) and 5 (11 MiB), each 512 + 2 MiB, plus footer, header, locator space, BAT.
    expect(delta.length).toBe(512 + 1024 + 512 + 512 + 2 * (512 + 2 * MiB) + 512)
    expect(delta.readUInt32BE(60)).toBe(4) // differencing
    // qemu-img reads the delta's blocks (as a dynamic VHD); map says where they are.
    await writeFile(scratch.path('delta.vhd'), asDynamic(delta))
    await run('qemu-img', [
      'convert',
      '-f',
      'vpc',
      '-O',
      'raw',
      scratch.path('delta.vhd'),
      scratch.path('delta.raw'),
    ])
    const { stdout } = await run('qemu-img', ['map', '--output=json', '-f', 'vpc', scratch.path('delta.vhd')])
    const blocks = Buffer.from(await readFile(scratch.path('delta.raw')))
    const result = Buffer.from(await bytesOf(base))
    for (const m of JSON.parse(stdout) as { start: number; length: number; data: boolean }[]) {
      if (m.data) blocks.copy(result, m.start, m.start, m.start + m.length)
    }
    expect(result.equals(await bytesOf(next))).toBe(true)
    // Strata's own streaming VHD reader sees a differencing disk holding exactly blocks 2 and 5.
    const stream = await openVhdStream(Readable.from([delta]))
    expect(stream.isDifferencing).toBe(true)
    expect([...stream.blockOrder]).toEqual([2, 5])
    for await (const block of stream.blocks()) {
      const at = block.index * 2 * MiB
      expect(Buffer.from(block.data).equals((await bytesOf(next)).subarray(at, at + 2 * MiB))).toBe(true)
    }
    // And through XAPI: the delta imported onto a clone of the base gives the new snapshot too.
    const clone = await callAsync<string>(client, 'VDI.clone', [base, {}])
    await importVdi(
      client,
      clone,
      { open: () => Readable.from([delta]), length: delta.length },
      { format: 'vhd' },
    )
    expect((await bytesOf(clone)).equals(await bytesOf(next))).toBe(true)
  })

  it('imports raw data into a new VDI and refuses to send a body shorter than announced', async () => {
    const target = await newVdi('restore', 4 * MiB)
    const data = Buffer.alloc(4 * MiB)
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i)
    await importVdi(
      client,
      target,
      { open: () => Readable.from([data]), length: data.length },
      { format: 'raw' },
    )
    expect((await bytesOf(target)).equals(data)).toBe(true)
    const short = importVdi(
      client,
      target,
      { open: () => Readable.from([data.subarray(0, MiB)]), length: data.length },
      { format: 'raw' },
    )
    await expect(short).rejects.toMatchObject({ code: 'XAPI_TRANSFER_LENGTH' })
  })

  it('writes a lent body item by item, and refuses one of the wrong length or that fails', async () => {
    const target = await newVdi('lent', 4 * MiB)
    const data = Buffer.alloc(4 * MiB)
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i ^ 0x5a5a5a5a, i)
    let closed = 0
    /** One buffer refilled for every item: intact only if each is written before the next is made. */
    async function* lent(length: number, fail = false): AsyncGenerator<Uint8Array> {
      const buffer = Buffer.alloc(256 * 1024)
      try {
        for (let at = 0; at < length; at += buffer.length) {
          if (fail && at >= MiB) throw new Error('the source broke')
          const piece = buffer.subarray(0, Math.min(buffer.length, length - at))
          data.copy(piece, 0, at % data.length)
          yield piece
        }
      } finally {
        closed++
      }
    }
    await importVdi(client, target, { open: () => lent(data.length), length: data.length }, { format: 'raw' })
    expect((await bytesOf(target)).equals(data)).toBe(true)
    const length = data.length
    await expect(
      importVdi(client, target, { open: () => lent(MiB), length }, { format: 'raw' }),
    ).rejects.toMatchObject({ code: 'XAPI_TRANSFER_LENGTH' })
    await expect(
      importVdi(client, target, { open: () => lent(length + MiB), length }, { format: 'raw' }),
    ).rejects.toMatchObject({ code: 'XAPI_TRANSFER_LENGTH' })
    await expect(
      importVdi(client, target, { open: () => lent(length, true), length }, { format: 'raw' }),
    ).rejects.toThrow(/the source broke/)
    expect(closed).toBe(4) // every body was closed, the one left early too
  })

  it('fails a VHD import whose block write fails while the next block arrives, keeping what was written', async () => {
    const target = await newVdi('too small', 4 * MiB)
    // A VHD of 8 MiB, four full blocks: the third one's write fails (past the VDI's end) while the
    // fourth is being received.
    const plan = planVhd({ size: 8 * MiB, blockIndexes: [0, 1, 2, 3] })
    const blocks = [0, 1, 2, 3].map((index) => ({ index, data: Buffer.alloc(2 * MiB, index + 1) }))
    const parts: Uint8Array[] = []
    for await (const part of writeVhd(plan, blocks)) parts.push(part)
    const vhd = Buffer.concat(parts)
    await expect(
      importVdi(client, target, { open: () => Readable.from([vhd]), length: vhd.length }, { format: 'vhd' }),
    ).rejects.toMatchObject({ code: 'VDI_IO_ERROR' })
    const written = await bytesOf(target)
    expect(written.subarray(0, 2 * MiB).every((b) => b === 1)).toBe(true)
    expect(written.subarray(2 * MiB).every((b) => b === 2)).toBe(true)
    // Nothing was left attached or locked: a good import into the same VDI succeeds.
    const fits = planVhd({ size: 4 * MiB, blockIndexes: [1] })
    const good: Uint8Array[] = []
    for await (const part of writeVhd(fits, [{ index: 1, data: Buffer.alloc(2 * MiB, 9) }])) good.push(part)
    const body = Buffer.concat(good)
    await importVdi(
      client,
      target,
      { open: () => Readable.from([body]), length: body.length },
      { format: 'vhd' },
    )
    expect((await bytesOf(target)).subarray(2 * MiB).every((b) => b === 9)).toBe(true)
  })

  it('fails the import task with VDI_IO_ERROR when the body is cut short', async () => {
    const target = await newVdi('cut', 4 * MiB)
    const task = await client.call<string>('task.create', ['cut import', ''])
    const url = new URL('/import_raw_vdi', lab.url)
    url.search = new URLSearchParams({
      vdi: target,
      format: 'raw',
      session_id: client.sessionRef(),
      task_id: task,
    }).toString()
    const req = request(url, {
      method: 'PUT',
      agent: client.trust.agent(false),
      headers: { 'content-length': 4 * MiB },
    })
    req.on('error', () => undefined)
    req.write(Buffer.alloc(MiB, 1))
    await new Promise((r) => req.once('response', r))
    req.destroy()
    await expect(waitTask(client, task)).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
      params: ['Device I/O errors'],
    })
  })

  it('fails an export cut by a toolstack restart instead of returning a short disk', async () => {
    const stream = await exportVdi(client, vdi, { format: 'raw' })
    const it = stream[Symbol.asyncIterator]()
    await it.next() // the transfer is under way
    await lab.restartToolstack(50)
    const rest = (async () => {
      for (let n = await it.next(); n.done !== true; n = await it.next());
    })()
    await expect(rest).rejects.toMatchObject({
      code: expect.stringMatching(/^XAPI_(TRANSFER_CUT|TASK_LOST)$/),
    })
  })
})
