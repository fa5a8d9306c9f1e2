// The codec against the real tools: qemu-img (the vpc driver) and libvhdi's vhdiinfo, an independent
// parser. qemu-img cannot read a differencing VHD over its parent (its vpc driver has no backing
// support), so chains are checked with qemu-img converting the parent and our reader applying the child.
import { execFile } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { readFile, readdir, writeFile, mkdir, copyFile } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '../../testing/index.js'
import { formatUuid, parseUuid } from '../bytes.js'
import { encodeBat } from '../bat.js'
import { encodeFooter } from '../footer.js'
import { chsGeometry } from '../geometry.js'
import { encodeHeader } from '../header.js'
import { openVhdStream } from '../stream-reader.js'
import { collectBytes } from '../memory-access.js'
import { planVhd, writeVhd } from '../writer.js'
import { vhdToRaw, rawToVhd } from './convert.js'
import { readFileChunks } from './file-access.js'
import { openVhdFileStream } from './file-stream.js'
import { openVhdFile } from './open-chain.js'

const exec = promisify(execFile)
const MiB = 1024 * 1024
const BLOCK = 2 * MiB

function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = seed | 1
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out.writeInt32LE(x | 0, Math.min(i, length - 4))
  }
  return out
}

/** 21 MiB + 3.5 KiB: neither a block nor a CHS multiple; random, zero, half-zero, repeated and short blocks. */
function sampleDisk(): Buffer {
  const disk = Buffer.alloc(21 * MiB + 7 * 512)
  pseudoRandom(BLOCK, 1).copy(disk, 0)
  pseudoRandom(MiB, 2).copy(disk, 2 * BLOCK)
  const repeated = pseudoRandom(BLOCK, 3)
  for (const i of [4, 5, 8]) repeated.copy(disk, i * BLOCK)
  pseudoRandom(MiB + 7 * 512, 4).copy(disk, 10 * BLOCK)
  disk.write('end of disk', disk.length - 11)
  return disk
}

async function qemuInfo(file: string): Promise<{ format: string; 'virtual-size': number }> {
  const { stdout } = await exec(requireBinary('qemu-img'), ['info', '--output=json', '-f', 'vpc', file])
  return JSON.parse(stdout) as { format: string; 'virtual-size': number }
}

/** `raw` followed by zeros up to `size`: what a VHD of a raw image not a sector/CHS multiple reads as. */
function padded(raw: Buffer, size: number): Buffer {
  return Buffer.concat([raw, Buffer.alloc(size - raw.length)])
}

describe('VHD files and real tools', () => {
  let scratch: Scratch
  let raw: Buffer
  let rawPath: string
  beforeAll(async () => {
    requireBinary('qemu-img')
    requireBinary('vhdiinfo')
    scratch = await scratchDir('strata-vhd-')
    raw = sampleDisk()
    rawPath = scratch.path('disk.raw')
    await writeFile(rawPath, raw)
    return () => scratch[Symbol.asyncDispose]()
  })

  it.each([
    ['dynamic', 'off'],
    ['dynamic', 'on'],
    ['fixed', 'off'],
    ['fixed', 'on'],
  ])('reads qemu-img convert -O vpc subformat=%s force_size=%s byte for byte', async (subformat, force) => {
    const vhd = scratch.path(`q-${subformat}-${force}.vhd`)
    const opts = `subformat=${subformat},force_size=${force}`
    await exec(requireBinary('qemu-img'), ['convert', '-f', 'raw', '-O', 'vpc', '-o', opts, rawPath, vhd])
    const { 'virtual-size': size } = await qemuInfo(vhd)
    const out = scratch.path(`q-${subformat}-${force}.raw`)
    const result = await vhdToRaw(vhd, out, { sync: false })
    expect(result.size).toBe(size)
    expect((await readFile(out)).equals(padded(raw, size))).toBe(true)
  })

  it.each(['dynamic', 'fixed'])(
    'reads an empty qemu-img create -f vpc %s disk as zeros',
    async (subformat) => {
      const vhd = scratch.path(`empty-${subformat}.vhd`)
      await exec(requireBinary('qemu-img'), [
        'create',
        '-q',
        '-f',
        'vpc',
        '-o',
        `subformat=${subformat}`,
        vhd,
        '5M',
      ])
      const disk = await openVhdFile(vhd)
      await disk.close()
      const out = scratch.path(`empty-${subformat}.raw`)
      const { size } = await vhdToRaw(vhd, out, { sync: false })
      expect(size).toBe((await qemuInfo(vhd))['virtual-size'])
      expect((await readFile(out)).equals(Buffer.alloc(size))).toBe(true)
    },
  )

  it('opens and streams a 2040 GiB disk (the format limit) with memory bounded by its BAT', async () => {
    const vhd = scratch.path('limit.vhd')
    await exec(requireBinary('qemu-img'), [
      'create',
      '-q',
      '-f',
      'vpc',
      '-o',
      'subformat=dynamic,force_size=on',
      vhd,
      '2040G',
    ])
    const disk = await openVhdFile(vhd)
    expect(disk.size).toBe(2040 * 1024 ** 3)
    expect(disk.blockCount).toBe(1_044_480)
    await disk.close()
    const before = process.memoryUsage().rss
    const stream = await openVhdFileStream(vhd)
    let blocks = 0
    for await (const _ of stream.blocks()) blocks++
    expect(blocks).toBe(0)
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024)
  })

  it('writes dynamic VHDs that qemu-img and vhdiinfo read as the raw source', async () => {
    const vhd = scratch.path('ours.vhd')
    const result = await rawToVhd(rawPath, vhd, { sync: false })
    expect(result.blocks).toBe(6) // of 11: blocks 1, 3, 6, 7 and 9 are zeros and left out
    const info = await qemuInfo(vhd)
    expect(info.format).toBe('vpc')
    expect(info['virtual-size']).toBe(raw.length)
    await exec(requireBinary('qemu-img'), ['compare', '-f', 'raw', '-F', 'vpc', rawPath, vhd]) // exit 1 on a difference
    const back = scratch.path('ours-by-qemu.raw')
    await exec(requireBinary('qemu-img'), ['convert', '-f', 'vpc', '-O', 'raw', vhd, back])
    expect((await readFile(back)).equals(raw)).toBe(true)
    const { stdout } = await exec(requireBinary('vhdiinfo'), [vhd])
    expect(stdout).toMatch(/Disk type\s*:\s*Dynamic/)
    expect(stdout).toContain(`(${raw.length} bytes)`)
    expect(stdout).toContain(result.uuid)
  })

  it('writes differencing VHDs holding only changed blocks; read over the parent they equal the new image', async () => {
    const parent = scratch.path('chain', 'base.vhd')
    await mkdir(scratch.path('chain'), { recursive: true })
    await rawToVhd(rawPath, parent, { sync: false })
    const changed = Buffer.from(raw)
    pseudoRandom(4096, 9).copy(changed, 2 * BLOCK + 100) // block 2: a few bytes
    pseudoRandom(BLOCK, 10).copy(changed, 7 * BLOCK) // block 7: was zeros
    changed.fill(0, 5 * BLOCK, 6 * BLOCK) // block 5: now zeros, must be stored as a zero block
    const newRaw = scratch.path('new.raw')
    await writeFile(newRaw, changed)
    const child = scratch.path('chain', 'delta.vhd')
    const result = await rawToVhd(newRaw, child, { parentPath: parent, sync: false })
    expect(result.blocks).toBe(3)

    const { stdout } = await exec(requireBinary('vhdiinfo'), [child])
    expect(stdout).toMatch(/Disk type\s*:\s*Differential/)
    expect(stdout).toContain(`Parent identifier\t: ${result.parent!.uuid}`)
    expect(stdout).toContain('Parent filename\t\t: base.vhd')

    // Our chain reader (parent found beside the child via the locators, UUID checked).
    const out = scratch.path('delta.raw')
    expect((await vhdToRaw(child, out, { sync: false })).chain).toHaveLength(2)
    expect((await readFile(out)).equals(changed)).toBe(true)

    // Independent of our chain code: qemu-img reads the parent, our streaming reader applies the child.
    const applied = scratch.path('applied.raw')
    await exec(requireBinary('qemu-img'), ['convert', '-f', 'vpc', '-O', 'raw', parent, applied])
    const handle = await open(applied, 'r+')
    const stream = await openVhdStream(readFileChunks(child))
    expect(stream.isDifferencing).toBe(true)
    expect(formatUuid(stream.header.parentUuid)).toBe(result.parent!.uuid)
    for await (const block of stream.blocks()) {
      expect(block.full).toBe(true)
      await handle.write(
        block.data,
        0,
        Math.min(BLOCK, changed.length - block.index * BLOCK),
        block.index * BLOCK,
      )
    }
    await handle.close()
    expect((await readFile(applied)).equals(changed)).toBe(true)
  })

  it('writes a differencing VHD of a disk that grew since its parent', async () => {
    const dir = scratch.path('grown')
    await mkdir(dir, { recursive: true })
    await rawToVhd(rawPath, `${dir}/base.vhd`, { sync: false })
    const grown = Buffer.concat([raw, Buffer.alloc(3 * BLOCK)]) // the parent's short last block continues
    grown.write('now past the old end', raw.length + 10)
    grown.write('further out', grown.length - 20)
    await writeFile(`${dir}/grown.raw`, grown)
    const result = await rawToVhd(`${dir}/grown.raw`, `${dir}/grown.vhd`, {
      parentPath: `${dir}/base.vhd`,
      sync: false,
    })
    expect(result.size).toBe(grown.length)
    expect(result.blocks).toBe(2) // the old last block (now longer) and the new last one
    await vhdToRaw(`${dir}/grown.vhd`, `${dir}/back.raw`, { sync: false })
    expect((await readFile(`${dir}/back.raw`)).equals(grown)).toBe(true)
  })

  it('reads an XAPI-shaped delta export and finds its parent from an absolute dom0 path', async () => {
    // Laid out as xapi.md describes vhd-tool's stream: creator 'caml', header at 512, a MacX locator at
    // 1536 pointing to a zeroed sector, BAT at 2048, full bitmaps, parent name = the base's dom0 path.
    const dir = scratch.path('xapi')
    await mkdir(dir, { recursive: true })
    await rawToVhd(rawPath, `${dir}/base.vhd`, { sync: false })
    const base = await openVhdFile(`${dir}/base.vhd`)
    await base.close()
    const dom0Path = '/var/run/sr-mount/5c2f0e7e-0000-4000-8000-000000000001/base.vhd'
    const entries = Math.ceil(raw.length / BLOCK)
    const footer = encodeFooter({
      ...base.footer,
      creatorApplication: 'caml',
      creatorVersion: 1,
      creatorHostOs: 0,
      timestamp: 0,
      diskType: 'differencing',
      geometry: chsGeometry(raw.length),
      uuid: parseUuid('0b5a9d3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'),
    })
    const header = encodeHeader({
      tableOffset: 2048,
      headerVersion: 0x00010000,
      maxTableEntries: entries,
      blockSize: BLOCK,
      checksum: 0,
      parentUuid: base.footer.uuid,
      parentTimestamp: base.footer.timestamp,
      parentUnicodeName: dom0Path,
      parentLocators: [
        { platform: 'MacX', dataSpace: 512, dataLength: `file://${dom0Path}`.length, dataOffset: 1536 },
      ],
    })
    const changed = Buffer.from(raw)
    const present = [1, 4]
    const bat = new Uint32Array(entries).fill(0xffffffff)
    const batBytes = Math.ceil((entries * 4) / 512) * 512
    const parts: Uint8Array[] = [footer, header, new Uint8Array(512), new Uint8Array(batBytes)]
    present.forEach((index, k) => {
      bat[index] = (2048 + batBytes + k * (512 + BLOCK)) / 512
      const data = pseudoRandom(BLOCK, 50 + index)
      data.copy(changed, index * BLOCK)
      parts.push(new Uint8Array(512).fill(0xff), data)
    })
    parts[3] = encodeBat(bat, batBytes)
    parts.push(footer)
    const delta = Buffer.concat(parts)
    await writeFile(`${dir}/delta.vhd`, delta)

    // A Node Readable in 64 KiB chunks, like an HTTP body: read the BAT only, then close (XO's NBD path).
    const body = createReadStream(`${dir}/delta.vhd`, { highWaterMark: 65536 })
    const stream = await openVhdStream(body)
    expect([...stream.blockOrder]).toEqual(present)
    expect(stream.header.parentUnicodeName).toBe(dom0Path)
    await stream.close()
    expect(body.destroyed).toBe(true)
    const out = `${dir}/delta.raw`
    expect((await vhdToRaw(`${dir}/delta.vhd`, out, { sync: false })).chain).toEqual([
      `${dir}/delta.vhd`,
      `${dir}/base.vhd`,
    ])
    expect((await readFile(out)).equals(changed)).toBe(true)
    const { stdout } = await exec(requireBinary('vhdiinfo'), [`${dir}/delta.vhd`])
    expect(stdout).toContain(`Parent filename\t\t: ${dom0Path}`)
  })

  it('refuses a parent whose UUID does not match, or a missing parent, with typed errors', async () => {
    const dir = scratch.path('wrong')
    await mkdir(dir, { recursive: true })
    await copyFile(scratch.path('chain', 'delta.vhd'), `${dir}/delta.vhd`)
    await expect(vhdToRaw(`${dir}/delta.vhd`, `${dir}/x.raw`)).rejects.toMatchObject({
      code: 'VHD_PARENT_NOT_FOUND',
    })
    await rawToVhd(rawPath, `${dir}/base.vhd`, { sync: false }) // same name, another disk (new UUID)
    await expect(vhdToRaw(`${dir}/delta.vhd`, `${dir}/x.raw`)).rejects.toMatchObject({
      code: 'VHD_PARENT_MISMATCH',
    })
    expect(await readdir(dir)).toEqual(['base.vhd', 'delta.vhd']) // no output, no temp file left
  })

  it('reads long files exactly while its read buffers are recycled (runs of allocated zero blocks)', async () => {
    const blockSize = 512 * 1024
    const count = 96
    const expected = Buffer.alloc(count * blockSize)
    const blocks = Array.from({ length: count }, (_, index) => {
      // Runs of allocated-but-zero blocks (XAPI sends them) between data: writes lag behind reads.
      const data = index % 16 < 9 ? Buffer.alloc(blockSize) : pseudoRandom(blockSize, index + 100)
      data.copy(expected, index * blockSize)
      return { index, data }
    })
    const plan = planVhd({ size: expected.length, blockSize, blockIndexes: blocks.map((b) => b.index) })
    const vhd = scratch.path('zero-runs.vhd')
    await writeFile(vhd, await collectBytes(writeVhd(plan, blocks)))
    const out = scratch.path('zero-runs.raw')
    expect((await vhdToRaw(vhd, out, { sync: false })).blocksWritten).toBe(42)
    expect((await readFile(out)).equals(expected)).toBe(true)
  })

  it('leaves no output behind when the input is cut short', async () => {
    const dir = scratch.path('cut')
    await mkdir(dir, { recursive: true })
    const whole = await readFile(scratch.path('ours.vhd'))
    await writeFile(`${dir}/cut.vhd`, whole.subarray(0, whole.length - 3 * MiB))
    await expect(vhdToRaw(`${dir}/cut.vhd`, `${dir}/out.raw`)).rejects.toMatchObject({
      code: 'VHD_TRUNCATED',
    })
    expect(await readdir(dir)).toEqual(['cut.vhd'])
  })
})
