// Remotes damaged or hostile in one way each: the point concerned is unusable (or its restore fails)
// with a typed error that names it, nothing is allocated past the bounds, and nothing is written.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { listRemote, openPoint, readOnlyStore, storeFiles, XoRemote } from './index.js'
import { xvaStoredBytes } from './xva-stream.js'
import { DiskImage } from './testing/disk-images.js'
import { rawImage, restorePoint } from './testing/read-back.js'
import { fileDate, storeSink, XoRemoteBuilder, type BuilderOptions } from './testing/remote-builder.js'
import { buildXva, xvaChecksum } from './testing/xva-builder.js'

const VM = '5e1f0000-0000-4000-8000-000000000001'
const JOB = 'f00dcafe-0000-4000-8000-000000000001'
const LINEAGE = { jobId: JOB, vdiUuid: '44444444-0000-4000-8000-000000000000' }
const T = Date.UTC(2025, 5, 1)
const KEY = 'an XO key of exactly 32 chars!!!'

async function remoteWith(options: BuilderOptions = {}) {
  const store = new MemoryStore()
  const builder = await XoRemoteBuilder.create(storeSink(store), options)
  const open = () =>
    XoRemote.open(storeFiles(store), {
      key: options.key === undefined ? undefined : Buffer.from(options.key),
    })
  const point = async (id: string) => (await listRemote(await open())).points.find((p) => p.id === id)!
  return { store, builder, open, point }
}

/** One delta point of a key VhdDirectory; returns its id and the alias's data directory. */
async function onePoint(builder: XoRemoteBuilder, filters: ('gzip' | 'brotli')[] = ['gzip']) {
  const disk = new DiskImage(4 * 1024 * 1024)
  const vhd = await builder.addVhd(VM, LINEAGE, fileDate(T), disk, disk.write([0, 1], 'x'), {
    kind: 'directory',
    filters,
  })
  const id = await builder.deltaBackup(VM, T, {
    jobId: JOB,
    vmRecord: { name_label: 'vm' },
    disks: [{ vdiUuid: LINEAGE.vdiUuid, vhd, name: 'd', size: disk.size }],
  })
  const dir = `xo-vm-backups/${VM}/vdis/${JOB}/${LINEAGE.vdiUuid}/data/${fileDate(T)}.vhd`
  return { id, dir, disk, vhd }
}

describe('an XO remote is read-only', () => {
  it('refuses every write and delete before it reaches the store', async () => {
    const store = new MemoryStore()
    await store.put('xo-vm-backups/a.json', Buffer.from('{}'))
    const guarded = readOnlyStore(store)
    await expect(guarded.put('xo-vm-backups/b.json', Buffer.from('x'))).rejects.toMatchObject({
      code: 'XO_READ_ONLY',
    })
    await expect(guarded.delete('xo-vm-backups/a.json')).rejects.toMatchObject({ code: 'XO_READ_ONLY' })
    await expect(guarded.removeIncomplete!(0)).rejects.toMatchObject({ code: 'XO_READ_ONLY' })
    expect(await store.stat('xo-vm-backups/b.json')).toBeUndefined()
    expect(Buffer.from(await store.get('xo-vm-backups/a.json')).toString()).toBe('{}')
    // The files view keeps nothing but the guarded store.
    const inner = (storeFiles(store) as unknown as { store: { put: typeof store.put } }).store
    await expect(inner.put('x', new Uint8Array(1))).rejects.toMatchObject({ code: 'XO_READ_ONLY' })
  })
})

describe('bad metadata', () => {
  it.each([
    ['{"mode":"delta","jobId":"j","timestamp":1,"vm":{},"vhds":{}}', /names no VHD/],
    ['{"mode":"mirror","jobId":"j","timestamp":1,"vm":{}}', /mode is "mirror"/],
    ['{"mode":"full","jobId":"j","timestamp":"yesterday","vm":{},"xva":"x.xva"}', /timestamp "yesterday"/],
    ['{"mode":"delta","jobId":"j","timestamp":1,"vm":{},"vhds":{"r":42}}', /vhds\[r\] is not/],
    ['[1, 2]', /the document is not an object/],
  ])('%s makes the point unusable', async (json, reason) => {
    const { builder, point } = await remoteWith()
    const id = await builder.metadata(VM, T, JSON.parse(json))
    expect(await point(id)).toMatchObject({
      usable: false,
      code: 'XO_METADATA_INVALID',
      reason: expect.stringMatching(reason),
    })
  })

  it('an encrypted metadata file that fails authentication', async () => {
    const { store, builder, point } = await remoteWith({ encryption: 'chacha20-poly1305', key: KEY })
    const { id } = await onePoint(builder)
    const file = `xo-vm-backups/${id}.json`
    const bytes = Buffer.from(await store.get(file))
    bytes[40]! ^= 1
    await store.put(file, bytes)
    expect(await point(id)).toMatchObject({ usable: false, code: 'XO_AUTH_FAILED' })
  })

  it('an unknown encryption algorithm', async () => {
    const { store, open } = await remoteWith()
    await store.put('encryption.json', Buffer.from('{"algorithm":"rot13"}'))
    await expect(open()).rejects.toMatchObject({ code: 'XO_ENCRYPTION_UNSUPPORTED' })
  })
})

describe('bad VHD chains', () => {
  it("an alias past XO's 1024 bytes, an unknown filter, a short bat", async () => {
    const { store, builder, point } = await remoteWith()
    const { id, dir, vhd } = await onePoint(builder)
    await store.put(`xo-vm-backups/${VM}/${vhd.path}`, Buffer.alloc(2000, 0x61))
    expect(await point(id)).toMatchObject({ usable: false, code: 'XO_TOO_LARGE' })
    await store.put(`xo-vm-backups/${VM}/${vhd.path}`, Buffer.from(`data/${fileDate(T)}.vhd`))
    await store.put(`${dir}/chunk-filters.json`, Buffer.from('["lz4"]'))
    expect(await point(id)).toMatchObject({
      usable: false,
      reason: expect.stringMatching(/unknown chunk filter "lz4"/),
    })
    await store.put(`${dir}/chunk-filters.json`, Buffer.from('["gzip"]'))
    await store.put(`${dir}/bat`, gzipSync(new Uint8Array(0)))
    expect(await point(id)).toMatchObject({ usable: false, code: 'XO_VHD_DIRECTORY_INVALID' })
  })

  it('a parent with another uuid, a parent that is the child itself, a parent outside the remote', async () => {
    const { builder, point } = await remoteWith()
    const { vhd: key, disk } = await onePoint(builder)
    const child = async (n: number, parent: { path: string; uuid: Uint8Array }) => {
      const at = T + n * 60_000
      const vhd = await builder.addVhd(
        VM,
        LINEAGE,
        fileDate(at),
        disk,
        disk.write([1], `c${n}`),
        { kind: 'directory', filters: [] },
        parent,
      )
      return builder.deltaBackup(VM, at, {
        jobId: JOB,
        vmRecord: {},
        disks: [{ vdiUuid: LINEAGE.vdiUuid, vhd, name: 'd', size: disk.size }],
      })
    }
    expect(await point(await child(1, { ...key, uuid: new Uint8Array(16).fill(9) }))).toMatchObject({
      usable: false,
      code: 'XO_CHAIN_BROKEN',
      reason: expect.stringMatching(/has UUID .* expects/),
    })
    const self = `vdis/${JOB}/${LINEAGE.vdiUuid}/${fileDate(T + 120_000)}.alias.vhd`
    expect(await point(await child(2, { path: self, uuid: key.uuid }))).toMatchObject({
      reason: expect.stringMatching(/loops back/),
    })
    expect(await point(await child(3, { path: '../../../../../../x.vhd', uuid: key.uuid }))).toMatchObject({
      code: 'XO_PATH_INVALID',
    })
  })

  it('a block that inflates past a block is refused, not allocated', async () => {
    const { store, builder, open } = await remoteWith()
    const { id, dir } = await onePoint(builder)
    await store.put(`${dir}/blocks/0/1`, gzipSync(Buffer.alloc(64 * 1024 * 1024)))
    const disk = await (await openPoint(await open(), id)).openDisk(0)
    await expect(rawImage(disk)).rejects.toMatchObject({ code: 'XO_TOO_LARGE' })
  })

  it('a block removed from under its bat', async () => {
    const { store, builder, open } = await remoteWith()
    const { id, dir } = await onePoint(builder)
    await store.delete(`${dir}/blocks/0/0`)
    const disk = await (await openPoint(await open(), id)).openDisk(0)
    await expect(rawImage(disk)).rejects.toMatchObject({
      code: 'XO_NOT_FOUND',
      message: expect.stringMatching(/block 0 .* bat lists it/),
    })
  })
})

describe('bad XVAs', () => {
  async function xvaPoint(options: BuilderOptions = {}) {
    const r = await remoteWith(options)
    const disk = new DiskImage(3 * 1024 * 1024)
    disk.write([0, 1], 'xva')
    const xva = await buildXva({ vmName: 'v', disks: [{ name: 'd', bytes: disk.copy() }] })
    const path = `xo-vm-backups/${VM}/${fileDate(T)}.xva`
    await r.builder.write(path, xva)
    if (options.encryption === undefined) await r.store.put(`${path}.checksum`, xvaChecksum(xva))
    const id = await r.builder.fullBackup(VM, T, { jobId: JOB, vmRecord: {}, size: xva.length })
    return { ...r, id, path, xva, disk }
  }

  it('restores when intact', async () => {
    const { store, id, disk } = await xvaPoint()
    const [raw] = await restorePoint(storeFiles(store), id, 1)
    expect(raw!.equals(disk.copy())).toBe(true)
  })

  it('an altered entry fails its checksum; an altered file fails its md5; a cut one is invalid', async () => {
    const { store, id, path, xva } = await xvaPoint()
    const failure = (e: unknown) => {
      const error = e as { code: string; message: string; details: { cause?: string } }
      return {
        code: error.code === 'XO_POINT_UNUSABLE' ? error.details.cause : error.code,
        message: error.message,
      }
    }
    const restore = () =>
      restorePoint(storeFiles(store), id, 1).then(() => ({ code: 'none', message: '' }), failure)
    const altered = Buffer.from(xva)
    const entry = altered.indexOf('Ref:2/00000000\0', 0, 'latin1')
    altered[entry + 512 + 1000]! ^= 1 // inside the data of the disk's first entry
    await store.put(path, altered)
    // The md5 of the whole file says it first (a small XVA is read whole before its first byte is used).
    expect(await restore()).toMatchObject({
      code: 'XO_CHECKSUM_MISMATCH',
      message: expect.stringMatching(/md5/),
    })
    await store.delete(`${path}.checksum`)
    expect(await restore()).toMatchObject({
      code: 'XO_CHECKSUM_MISMATCH',
      message: expect.stringMatching(/Ref:2\/00000000 does not match/),
    })
    await store.put(path, xva.subarray(0, xva.length - 2048))
    expect(await restore()).toMatchObject({ code: 'XO_XVA_INVALID' })
  })

  it('an encrypted XVA that fails authentication never yields its last bytes', async () => {
    const { store, id, path, open } = await xvaPoint({ encryption: 'aes-256-gcm', key: KEY })
    const bytes = Buffer.from(await store.get(path))
    bytes[bytes.length - 1]! ^= 1 // the tag
    await store.put(path, bytes)
    await expect(restorePoint(storeFiles(store), id, 1, KEY)).rejects.toMatchObject({
      code: 'XO_AUTH_FAILED',
    })
    let received = 0
    const read = (async () => {
      for await (const piece of xvaStoredBytes(await open(), path)) received += piece.length
    })()
    await expect(read).rejects.toMatchObject({ code: 'XO_AUTH_FAILED' })
    expect(received).toBeLessThan(bytes.length - 28)
  })
})
