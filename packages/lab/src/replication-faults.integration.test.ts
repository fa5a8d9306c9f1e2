// The faults a replication meets on its target, on the wire: an import cut, stalled or failed midway
// (/import_raw_vdi, /import), a full SR (SR_FULL at VDI.create, VDI_IO_ERROR when an import's blocks do
// not fit), and a pool that cannot be reached (connections refused, or accepted and never answered).
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { request } from 'node:https'
import { connect as tlsConnect } from 'node:tls'
import {
  PoolTrust,
  XapiClient,
  createTask,
  createVdi,
  exportXva,
  importVdi,
  importXva,
  waitTask,
} from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'

const MiB = 1024 * 1024

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** What a TCP connection to `port` meets: refused, answered, or silence for `waitMs`. */
async function probe(
  address: string,
  port: number,
  waitMs = 400,
): Promise<'refused' | 'answered' | 'silent'> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, address)
    socket.on('error', () => resolve('refused'))
    socket.on('connect', () => {
      // Not TLS: a TLS listener answers it with an alert, an HTTP one with an error (when they answer).
      socket.write('GET / HTTP/1.0\r\n\r\n')
      setTimeout(() => {
        socket.destroy()
        resolve('silent')
      }, waitMs)
    })
    socket.on('data', () => {
      socket.destroy()
      resolve('answered')
    })
    socket.on('close', () => resolve('answered'))
  })
}

describe('replication faults on the target pool', () => {
  let lab: LabPool
  let xapi: XapiClient
  let sr: string
  const newVdi = (name: string, size: number): Promise<string> =>
    createVdi(xapi, { name_label: name, virtual_size: size }, sr)
  const bytesOf = (vdi: string): Promise<Buffer> => lab.readDisk(vdi)

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [{ name: 'src', power: 'Halted', disks: [8] }],
    })
    xapi = new XapiClient(lab.connection)
    ;[sr] = (await xapi.call<string[]>('SR.get_all', [])) as [string]
  })
  afterEach(() => lab.faults.clear())
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  it('drops an import midway: the task fails with VDI_IO_ERROR, what arrived stays written', async () => {
    const vdi = await newVdi('cut', 8 * MiB)
    const data = randomBytes(8 * MiB)
    await xapi.call('lab.fail_http', ['/import_raw_vdi', { kind: 'cut', afterBytes: 3 * MiB }, 1])
    const error = await importVdi(
      xapi,
      vdi,
      { open: () => Readable.from([data]), length: data.length },
      { format: 'raw' },
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'VDI_IO_ERROR' })
    const got = await bytesOf(vdi)
    expect(got.subarray(0, 3 * MiB).equals(data.subarray(0, 3 * MiB))).toBe(true)
    expect(got.subarray(7 * MiB).every((b) => b === 0)).toBe(true)
    // The next import goes through.
    await importVdi(xapi, vdi, { open: () => Readable.from([data]), length: data.length }, { format: 'raw' })
    expect((await bytesOf(vdi)).equals(data)).toBe(true)
  })

  it('lets go of the VDI after a failed import (no dom0 VBD left behind)', async () => {
    const vdi = await newVdi('too short', MiB)
    const data = randomBytes(2 * MiB) // past the end of the VDI: VDI_IO_ERROR
    const error = await importVdi(
      xapi,
      vdi,
      { open: () => Readable.from([data]), length: data.length },
      {
        format: 'raw',
      },
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'VDI_IO_ERROR' })
    await new Promise((r) => setTimeout(r, 300))
    expect(await xapi.call('VDI.get_VBDs', [vdi])).toEqual([])
  })

  it('fails an import after the whole body with the injected code', async () => {
    const vdi = await newVdi('task-failure', 4 * MiB)
    const data = randomBytes(4 * MiB)
    const params = ['', 'There is insufficient space', '']
    lab.faults.failHttp('/import_raw_vdi', { kind: 'task-failure', code: 'SR_BACKEND_FAILURE_44', params })
    const error = await importVdi(
      xapi,
      vdi,
      { open: () => Readable.from([data]), length: data.length },
      { format: 'raw' },
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'SR_BACKEND_FAILURE_44', params })
  })

  it('stalls an import: nothing lands after N bytes and the task waits until the client gives up', async () => {
    const vdi = await newVdi('stall', 4 * MiB)
    const data = randomBytes(4 * MiB)
    lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: MiB })
    const task = await createTask(xapi, 'stalled import')
    const url = new URL('/import_raw_vdi', lab.url)
    for (const [k, v] of Object.entries({ vdi, format: 'raw', session_id: xapi.sessionRef(), task_id: task }))
      url.searchParams.set(k, v)
    const agent = new PoolTrust(new URL(lab.url), { fingerprint: lab.fingerprint }).agent(false)
    const put = request(url, { method: 'PUT', agent, headers: { 'content-length': data.length } })
    put.on('error', () => {})
    const head = new Promise<number>((resolve) => put.once('response', (r) => resolve(r.statusCode ?? 0)))
    put.write(data)
    expect(await head).toBe(200)
    // The first MiB lands in its own time (later on a loaded machine), then nothing more does.
    const landed = async () => (await bytesOf(vdi)).subarray(0, MiB).equals(data.subarray(0, MiB))
    for (const end = Date.now() + 10_000; !(await landed()) && Date.now() < end;)
      await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 500))
    expect(await xapi.call('task.get_status', [task])).toBe('pending')
    expect(await landed()).toBe(true)
    expect((await bytesOf(vdi)).subarray(3 * MiB).every((b) => b === 0)).toBe(true)
    put.destroy()
    await expect(waitTask(xapi, task, { signal: AbortSignal.timeout(5000) })).rejects.toMatchObject({
      code: 'VDI_IO_ERROR',
    })
  })

  it('rolls back an XVA import cut midway (IMPORT_ERROR_PREMATURE_EOF)', async () => {
    const xva = await collect(await exportXva(xapi, lab.ref('VM', 'src')))
    const before = lab.vmNames()
    lab.faults.failHttp('/import', { kind: 'cut', afterBytes: 200 * 1024 })
    const error = await importXva(xapi, sr, { open: () => Readable.from([xva]), length: xva.length }).catch(
      (e: unknown) => e,
    )
    expect(error).toMatchObject({ code: 'IMPORT_ERROR_PREMATURE_EOF' })
    expect(lab.vmNames()).toEqual(before)
  })

  it('has a full SR refuse a VDI.create with SR_FULL and an import whose blocks do not fit', async () => {
    await xapi.call('SR.scan', [sr])
    const used = Number(await xapi.call('SR.get_physical_utilisation', [sr]))
    expect(used).toBeGreaterThan(0)
    const size = Number(await xapi.call('SR.get_physical_size', [sr]))
    try {
      await xapi.call('lab.set_sr_physical_size', [sr, used + 6 * MiB])
      const full = await newVdi('too big', 8 * MiB).catch((e: unknown) => e)
      expect(full).toMatchObject({ code: 'SR_FULL', params: [String(8 * MiB), String(6 * MiB)] })
      const [first, second] = [await newVdi('fits', 4 * MiB), await newVdi('fits too', 4 * MiB)]
      const data = randomBytes(4 * MiB)
      await importVdi(
        xapi,
        first,
        { open: () => Readable.from([data]), length: data.length },
        { format: 'raw' },
      )
      // 4 MiB (two blocks) used of 6: the second import gets one block, then the SR is full.
      const error = await importVdi(
        xapi,
        second,
        { open: () => Readable.from([data]), length: data.length },
        { format: 'raw' },
      ).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'VDI_IO_ERROR' })
      expect(await xapi.call('SR.get_record', [sr])).toMatchObject({
        physical_size: used + 6 * MiB,
        physical_utilisation: used + 6 * MiB,
      })
      expect(await xapi.call('VDI.get_physical_utilisation', [first])).toBe(4 * MiB)
      // The failed import let go of the VDI (its dom0 VBD goes, as after any transfer).
      await new Promise((r) => setTimeout(r, 200))
      expect(await xapi.call('VDI.get_VBDs', [second])).toEqual([])
    } finally {
      await xapi.call('lab.set_sr_physical_size', [sr, size])
    }
    const bad = await xapi.call('lab.set_sr_physical_size', [sr, -1]).catch((e: unknown) => e)
    expect(bad).toMatchObject({ code: 'INVALID_VALUE' })
  })

  it('refuses connections for a while when made unreachable over the wire (HTTPS and NBD)', async () => {
    const port = Number(new URL(lab.url).port)
    const nbdPort = lab.nbd!.port!
    expect(await probe('127.0.0.1', port)).toBe('answered')
    await xapi.call('lab.set_unreachable', ['refuse', 1500])
    await new Promise((r) => setTimeout(r, 200))
    expect(await probe('127.0.0.1', port)).toBe('refused')
    expect(await probe('127.0.0.1', nbdPort)).toBe('refused')
    const during = await xapi.call('VM.get_all', [], AbortSignal.timeout(1000)).catch((e: unknown) => e)
    expect(during).toBeInstanceOf(Error)
    await new Promise((r) => setTimeout(r, 1600))
    expect(await probe('127.0.0.1', port)).toBe('answered')
    expect(lab.nbd?.port).toBe(nbdPort)
    expect((await xapi.call<string[]>('VM.get_all', [])).length).toBeGreaterThan(0)
  })

  it('accepts connections and never answers when made to hang, until reachable again', async () => {
    const port = Number(new URL(lab.url).port)
    await lab.faults.setUnreachable('hang')
    expect(await probe('127.0.0.1', port)).toBe('silent')
    expect(await probe('127.0.0.1', lab.state.nbd!.port)).toBe('silent')
    // No TLS handshake, let alone an answer.
    const handshake = await new Promise<string>((resolve) => {
      const tls = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      tls.on('secureConnect', () => (tls.destroy(), resolve('handshake')))
      tls.on('error', () => resolve('error'))
      setTimeout(() => (tls.destroy(), resolve('silent')), 600)
    })
    expect(handshake).toBe('silent')
    await lab.faults.setUnreachable(undefined)
    expect(await probe('127.0.0.1', port)).toBe('answered')
    expect((await xapi.call<string[]>('VM.get_all', [])).length).toBeGreaterThan(0)
    for (const args of [
      ['explode', 100],
      ['refuse', 0],
      ['hang', 24 * 3600 * 1000],
    ]) {
      const error = await xapi.call('lab.set_unreachable', args).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'INVALID_VALUE' })
    }
  })
})
