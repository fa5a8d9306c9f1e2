// The XO reader on a remote in a local directory (as on an NFS or SMB mount): key VHDs made by
// qemu-img under deltas made by Strata's writer, VhdDirectories, XVAs, XO's lock directory; restored
// files checked by qemu-img compare (raw, and our VHD output read by qemu's vpc driver); a chain of
// 120 deltas restored with a bounded number of open files; nothing written to the remote.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { FileAccess, openVhd } from '../vhd/index.js'
import { listRemote, localFiles, openPoint, writeXoDiskToFile, XoRemote } from './index.js'
import { DiskImage } from './testing/disk-images.js'
import { buildLongChain } from './testing/long-chain.js'
import { dirSink, fileDate, XoRemoteBuilder } from './testing/remote-builder.js'
import { buildScenario, VM, type Scenario } from './testing/scenario.js'

const qemuImg = requireBinary('qemu-img')
const KEY = 'an XO key of exactly 32 chars!!!'
const QEMU_VM = '9e0e0000-0000-4000-8000-00000000000e'

let scratch: Scratch
beforeAll(async () => {
  scratch = await scratchDir('strata-xo-')
})
afterAll(async () => {
  await scratch?.[Symbol.asyncDispose]()
})

async function treeDigest(root: string): Promise<string> {
  const hash = createHash('sha256')
  for (const entry of (await readdir(root, { recursive: true, withFileTypes: true })).sort((a, b) =>
    join(a.parentPath, a.name) < join(b.parentPath, b.name) ? -1 : 1,
  )) {
    const path = join(entry.parentPath, entry.name)
    hash.update(path)
    if (entry.isFile()) hash.update(await readFile(path))
  }
  return hash.digest('hex')
}

function compare(expected: string, out: string, format: 'raw' | 'vpc'): void {
  execFileSync(qemuImg, ['compare', '-q', '-f', 'raw', '-F', format, expected, out])
}

/** A key VHD written by qemu-img (convert, and create for an empty disk), with a delta of ours over each. */
async function qemuChains(root: string): Promise<Map<string, Buffer[]>> {
  const builder = await XoRemoteBuilder.create(dirSink(root))
  const lineages = [0, 1].map((d) => ({
    jobId: 'f00dcafe-0000-4000-8000-0000000000fe',
    vdiUuid: `66666666-0000-4000-8000-00000000000${d}`,
  }))
  const images = [new DiskImage(6 * 1024 * 1024), new DiskImage(4 * 1024 * 1024)]
  images[0]!.write([0, 2], 'qemu-key')
  const t0 = Date.UTC(2025, 2, 1)
  const keys = []
  for (const [d, image] of images.entries()) {
    const dir = join(root, 'xo-vm-backups', QEMU_VM, 'vdis', lineages[d]!.jobId, lineages[d]!.vdiUuid)
    await mkdir(dir, { recursive: true })
    const path = join(dir, `${fileDate(t0)}.vhd`)
    if (d === 0) {
      await writeFile(join(scratch.dir, 'key.raw'), image.copy())
      execFileSync(qemuImg, [
        'convert',
        '-f',
        'raw',
        '-O',
        'vpc',
        '-o',
        'subformat=dynamic,force_size=on',
        join(scratch.dir, 'key.raw'),
        path,
      ])
    } else {
      execFileSync(qemuImg, [
        'create',
        '-q',
        '-f',
        'vpc',
        '-o',
        'subformat=dynamic,force_size=on',
        path,
        String(image.size),
      ])
    }
    const access = await FileAccess.open(path)
    const uuid = (await openVhd(access)).footer.uuid
    await access.close()
    keys.push({ path: `vdis/${lineages[d]!.jobId}/${lineages[d]!.vdiUuid}/${fileDate(t0)}.vhd`, uuid })
  }
  const points = new Map<string, Buffer[]>()
  const disks = (vhds: { path: string; uuid: Uint8Array }[]) =>
    vhds.map((vhd, d) => ({ vdiUuid: lineages[d]!.vdiUuid, vhd, name: `q${d}`, size: images[d]!.size }))
  points.set(
    await builder.deltaBackup(QEMU_VM, t0, {
      jobId: lineages[0]!.jobId,
      vmRecord: { name_label: 'qemu' },
      disks: disks(keys),
    }),
    images.map((i) => i.copy()),
  )
  const t1 = t0 + 3_600_000
  const deltas = []
  for (const [d, image] of images.entries()) {
    deltas.push(
      await builder.addVhd(
        QEMU_VM,
        lineages[d]!,
        fileDate(t1),
        image,
        image.write([1], `qemu-delta-${d}`),
        { kind: 'file' },
        keys[d],
      ),
    )
  }
  points.set(
    await builder.deltaBackup(QEMU_VM, t1, {
      jobId: lineages[0]!.jobId,
      vmRecord: { name_label: 'qemu' },
      disks: disks(deltas),
    }),
    images.map((i) => i.copy()),
  )
  return points
}

describe.each([
  { name: 'clear', options: {} },
  { name: 'chacha20-poly1305', options: { encryption: 'chacha20-poly1305', key: KEY } },
] as const)('an XO remote in a local directory ($name)', ({ name, options }) => {
  const key = 'key' in options ? Buffer.from(options.key as string) : undefined
  let root: string
  let scenario: Scenario
  let points: Map<string, Buffer[]>

  beforeAll(async () => {
    root = scratch.path(`remote-${name}`)
    scenario = await buildScenario(dirSink(root), options)
    points = new Map(
      [...scenario.points]
        .filter(([, p]) => p.unusable === undefined && p.failsWith === undefined)
        .map(([id, p]) => [id, [...p.disks]]),
    )
    if (key === undefined) for (const [id, disks] of await qemuChains(root)) points.set(id, disks)
    await mkdir(join(root, 'xo-vm-backups', `${VM.delta}.lock`)) // proper-lockfile's empty directory
  })

  it("lists the remote, with XO's lock", async () => {
    const listing = await listRemote(await XoRemote.open(localFiles(root), { key }))
    expect(listing.vms.find((v) => v.uuid === VM.delta)).toMatchObject({
      locked: true,
      notes: [expect.stringMatching(/holds the lock/), expect.anything(), expect.anything()],
    })
    for (const id of points.keys())
      expect(
        listing.points.find((p) => p.id === id),
        id,
      ).toMatchObject({ usable: true })
  })

  it('restores every point to raw and VHD files that qemu-img finds identical, and writes nothing to the remote', async () => {
    const before = await treeDigest(root)
    const remote = await XoRemote.open(localFiles(root), { key })
    for (const [id, disks] of points) {
      const point = await openPoint(remote, id)
      for (const [i, expected] of disks.entries()) {
        const base = scratch.path(`${name}-${id.replace('/', '_')}-${i}`)
        await writeFile(`${base}.expected`, expected)
        const disk = await point.openDisk(i)
        await writeXoDiskToFile(disk, `${base}.raw`, { format: 'raw' })
        expect((await readFile(`${base}.raw`)).equals(expected), `${id} disk ${i}`).toBe(true)
        compare(`${base}.expected`, `${base}.raw`, 'raw')
        await writeXoDiskToFile(disk, `${base}.vhd`, { format: 'vhd' })
        compare(`${base}.expected`, `${base}.vhd`, 'vpc')
      }
    }
    expect(await treeDigest(root)).toBe(before)
  })

  it('refuses to replace a file unless forced', async () => {
    const remote = await XoRemote.open(localFiles(root), { key })
    const [id, disks] = [...points][0]!
    const disk = await (await openPoint(remote, id)).openDisk(0)
    const out = scratch.path(`${name}-exists.raw`)
    await writeFile(out, 'keep me')
    await expect(writeXoDiskToFile(disk, out, { format: 'raw' })).rejects.toMatchObject({
      code: 'XO_TARGET_EXISTS',
    })
    expect(await readFile(out, 'utf8')).toBe('keep me')
    await writeXoDiskToFile(disk, out, { format: 'raw', force: true })
    expect((await readFile(out)).equals(disks[0]!)).toBe(true)
    expect((await readdir(scratch.dir)).filter((f) => f.endsWith('.partial'))).toEqual([])
  })
})

describe('a chain of 120 deltas in a local directory', () => {
  it('restores its tip byte for byte, holding a bounded number of files open', async () => {
    const root = scratch.path('long')
    const { ids, images } = await buildLongChain(dirSink(root), 120)
    const fds = async () => (await readdir('/proc/self/fd')).length
    const baseline = await fds()
    let peak = baseline
    const sampler = setInterval(() => void fds().then((n) => (peak = Math.max(peak, n))), 2)
    const out = scratch.path('long.raw')
    try {
      // Opening the point reads the footer, header and bat of all 121 VhdDirectories.
      const remote = await XoRemote.open(localFiles(root))
      const disk = await (await openPoint(remote, ids[120]!)).openDisk(0)
      await writeXoDiskToFile(disk, out, { format: 'raw' })
    } finally {
      clearInterval(sampler)
    }
    expect((await readFile(out)).equals(images[120]!)).toBe(true)
    expect(peak - baseline).toBeLessThan(24)
  }, 120_000)
})
