// Many restore points at once, for listing tests (issue 26: 10,000 of them): one point written by
// PointWriter, then copies of its manifest under new ids for many VMs, each encoded as PointWriter
// encodes it and written as a file where LocalStore keeps that key, with its point index entry, and one
// index segment describing them all, as the first listing of a real repository leaves it. Writing them
// through LocalStore (an fsync per object) and PointWriter (a session per point) takes minutes on a
// loaded machine; what these tests measure is the listing, which reads exactly what a real repository
// holds.
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { LocalStore } from '../../storage/index.js'
import { KIND_MANIFEST, KIND_POINT_SEGMENT, PREFIX_POINT_INDEX } from '../format/constants.js'
import { manifestKey } from '../format/layout.js'
import { encodeSegment, listedManifest, pointEntryName, type SegmentPoint } from '../format/point-index.js'
import { encodeManifest, type Manifest } from '../format/manifest.js'
import { PointWriter } from '../point-writer.js'
import { readManifest } from '../points.js'
import { Repository } from '../repository.js'

const WRITES = 64

/**
 * Creates a repository in `dir` with `vms` × `perVm` points, one second apart, oldest first, and its point
 * index (`segment: false`: its entries only, as left by writers before any listing).
 */
export async function writeManyPoints(
  dir: string,
  o: { vms: number; perVm: number; start?: number; segment?: boolean },
): Promise<Repository> {
  const repo = await Repository.create(new LocalStore(dir), { chunkSize: 1024 * 1024 })
  const first = await PointWriter.begin(repo, {
    vm: vmId(0),
    metadata: { kind: 'strata-vm', vm: { name_label: 'vm-0000' } },
  })
  await first.openDisk('xvda', 64 * 1024).putChunk(0, Buffer.alloc(64 * 1024, 7))
  const written = await first.commit({ full: true })
  const model = await readManifest(repo, written)
  const start = o.start ?? Date.UTC(2025, 0, 1)
  const all: Manifest[] = []
  for (let v = 0; v < o.vms; v++)
    for (let p = v === 0 ? 1 : 0; p < o.perVm; p++) {
      const at = new Date(start + (p * o.vms + v) * 1000)
      all.push({
        ...model,
        pointId: `${at.toISOString().replace(/[-:]/g, '').replace('.', '')}-${(p * o.vms + v).toString(16).padStart(8, '0')}`,
        vm: {
          id: vmId(v),
          metadata: { kind: 'strata-vm', vm: { name_label: `vm-${String(v).padStart(4, '0')}` } },
        },
        startedAt: at.toISOString(),
        finishedAt: at.toISOString(),
      })
    }
  const described: SegmentPoint[] = [{ entry: await entryOf(dir, written), manifest: listedManifest(model) }]
  for (let i = 0; i < all.length; i += WRITES) {
    const batch = all.slice(i, i + WRITES)
    await Promise.all(batch.map((m) => writeObject(repo, dir, m)))
    const names = batch.map((m, j) => pointEntryName(refOf(m), (i + j).toString(16).padStart(8, '0')))
    await Promise.all(names.map((name) => writeFile(join(dir, PREFIX_POINT_INDEX, name), '')))
    batch.forEach((m, j) => described.push({ entry: names[j]!, manifest: listedManifest(m) }))
  }
  if (o.segment !== false) {
    const key = `${PREFIX_POINT_INDEX}segment.20250101T000000000Z-00000000`
    await writeFile(join(dir, key), repo.encode(KIND_POINT_SEGMENT, encodeSegment(described), utf8(key)))
  }
  return repo
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

const refOf = (m: Manifest) => ({ vm: m.vm.id, pointId: m.pointId })

/** The name of the entry PointWriter wrote for the first point. */
async function entryOf(dir: string, ref: { vm: string; pointId: string }): Promise<string> {
  const names = await readdir(join(dir, PREFIX_POINT_INDEX))
  return names.find((n) => n.startsWith(`${ref.pointId}.`))!
}

function vmId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`
}

async function writeObject(repo: Repository, dir: string, manifest: Manifest): Promise<void> {
  const key = manifestKey({ vm: manifest.vm.id, pointId: manifest.pointId })
  const bytes = repo.encode(KIND_MANIFEST, encodeManifest(manifest), utf8(key))
  const path = join(dir, key)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, bytes)
}
