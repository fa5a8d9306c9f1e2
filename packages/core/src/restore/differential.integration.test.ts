// Differential restore's halves against real tools: a disk backed up into an encrypted repository, then
// written to by "the guest" (1 % of it in a few places, including a hole of the point filled and data
// zeroed), read back over NBD from qemu-nbd and compared chunk by chunk with the point; the VHD of the
// differing blocks is read back by qemu-img and, laid over the changed disk as XAPI's VHD import does, gives
// back the point's bytes exactly while holding about what changed.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { NbdClient } from '../nbd/index.js'
import { startQemuNbd, type RunningServer } from '../nbd/testing/servers.js'
import { DiskReader, PointWriter, Repository, resolvePoint } from '../repository/index.js'
import { LocalStore } from '../storage/index.js'
import { requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { openVhdStream } from '../vhd/index.js'
import { differentialVhdBytes, findDifferences, planDifferentialVhd } from './differential.js'

const MiB = 1024 * 1024
const SIZE = 64 * MiB
const exec = promisify(execFile)
let scratch: Scratch
let qemu: RunningServer | undefined

beforeAll(async () => {
  for (const tool of ['qemu-nbd', 'qemu-img']) requireBinary(tool)
  scratch = await scratchDir('strata-differential-')
})
afterAll(async () => {
  await qemu?.stop()
  await scratch?.[Symbol.asyncDispose]()
})

it('finds the 1 % that changed and writes back only that, leaving the disk equal to the point', async () => {
  const original = randomBytes(SIZE)
  original.fill(0, 40 * MiB, 48 * MiB) // a hole of the point
  const repo = await Repository.create(new LocalStore(scratch.path('repo')), {
    passphrase: new TextEncoder().encode('a differential restore'),
    chunkSize: 512 * 1024,
  })
  const writer = await PointWriter.begin(repo, { vm: 'vm', metadata: { vm: { name_label: 'vm' } } })
  const disk = writer.openDisk('xvda', SIZE)
  for (let i = 0; i < disk.chunkCount; i++)
    await disk.putChunk(i, original.subarray(i * repo.chunkSize, i * repo.chunkSize + disk.chunkLength(i)))
  const { pointId } = await writer.commit()

  const changed = Buffer.from(original)
  randomBytes(500 * 1024).copy(changed, 3 * MiB + 12345) // inside one chunk and across the next
  randomBytes(4096).copy(changed, 41 * MiB) // into the point's hole
  changed.fill(0, 60 * MiB, 60 * MiB + 100 * 1024) // data zeroed
  await writeFile(scratch.path('now.raw'), changed)
  qemu = await startQemuNbd(scratch.path('q.sock'), scratch.path('now.raw'))
  const client = await NbdClient.open({
    socketPath: qemu.socketPath,
    exportName: 'disk',
    connectTimeoutMs: 5000,
  })

  const reader = await DiskReader.open(repo, await resolvePoint(repo, pointId), 0)
  const found = await findDifferences(repo, reader, client)
  await client.close()
  expect(found.comparedBytes).toBe(SIZE)
  expect(found.chunks).toEqual([6, 7, 82, 120]) // 512 KiB chunks: 3 MiB + 12345 .. +500 KiB, 41 MiB, 60 MiB
  expect(found.differingBytes).toBe(4 * 512 * 1024)

  const plan = planDifferentialVhd(reader, found.chunks)
  expect([...plan.blockIndexes]).toEqual([1, 20, 30]) // 2 MiB VHD blocks: 2–4 MiB, 40–42 MiB, 60–62 MiB
  const pieces: Buffer[] = []
  for await (const piece of differentialVhdBytes(reader, plan)) pieces.push(Buffer.from(piece))
  const vhd = Buffer.concat(pieces)
  expect(vhd.length).toBe(plan.length)
  expect(vhd.length).toBeLessThan(SIZE * 0.15) // about the 1 % that changed, in whole 2 MiB blocks
  await writeFile(scratch.path('diff.vhd'), vhd)
  // qemu-img reads the VHD independently: the planned blocks hold the point's bytes, the rest is absent.
  await exec('qemu-img', [
    'convert',
    '-f',
    'vpc',
    '-O',
    'raw',
    scratch.path('diff.vhd'),
    scratch.path('diff.raw'),
  ])
  const seen = await readFile(scratch.path('diff.raw'))
  for (let b = 0; b < SIZE / (2 * MiB); b++) {
    const range = seen.subarray(b * 2 * MiB, (b + 1) * 2 * MiB)
    const want = plan.blockIndexes.includes(b)
      ? original.subarray(b * 2 * MiB, (b + 1) * 2 * MiB)
      : Buffer.alloc(2 * MiB)
    expect(range.equals(want), `block ${b}`).toBe(true)
  }

  const stream = await openVhdStream(
    (async function* () {
      yield vhd
    })(),
  )
  for await (const block of stream.blocks()) {
    const at = block.index * 2 * MiB
    Buffer.from(block.data).copy(changed, at, 0, Math.min(2 * MiB, SIZE - at))
  }
  expect(changed.equals(original)).toBe(true)
})

it('refuses a disk of another size', async () => {
  const repo = await Repository.create(new LocalStore(scratch.path('repo2')))
  const writer = await PointWriter.begin(repo, { vm: 'vm', metadata: { vm: { name_label: 'vm' } } })
  const disk = writer.openDisk('xvda', 4 * MiB)
  for (let i = 0; i < disk.chunkCount; i++) await disk.putChunk(i, Buffer.alloc(disk.chunkLength(i), 1))
  const { pointId } = await writer.commit()
  const reader = await DiskReader.open(repo, await resolvePoint(repo, pointId), 0)
  const other = { size: 8 * MiB, read: async (_o: number, l: number) => Buffer.alloc(l) }
  await expect(findDifferences(repo, reader, other)).rejects.toMatchObject({ code: 'DISK_SIZE_MISMATCH' })
})
