// Copies one restore point into another repository through the disk-source seam: the source point's
// disks (PointDiskSource, each chunk authenticated on read) feed the target's own PointWriter, which
// hashes every chunk with the target's key (so ids are the target's), stores only chunks the target
// lacks and commits the manifest last. Over a base (the previous point copied), only chunks whose id
// changed are read. Chunks a killed copy already stored are found again and never uploaded twice.
import { ChunkSink, copyDisk, PointDiskSource } from '../../disks/index.js'
import {
  DiskReader,
  PointWriter,
  readDiskIndex,
  readManifest,
  type DiskWriter,
  type Manifest,
  type PointRef,
  type Repository,
} from '../../repository/index.js'
import type { TaskContext } from '../../shared/index.js'
import { presentChunks } from './present-chunks.js'

export interface PointCopy {
  readonly ref: PointRef
  /** The same point in the source, already copied as `targetBase`: only changed chunks are read. */
  readonly sourceBase?: PointRef
  /** A point of the same VM in the target that the copy starts from. */
  readonly targetBase?: PointRef
  /** Both repositories name a chunk alike: chunks the target lists are taken without being read. */
  readonly sameIds: boolean
  readonly concurrency?: number
}

export interface PointCopyStats {
  readonly ref: string
  /** Non-zero chunks of the point. */
  readonly chunks: number
  /** Chunks uploaded to the target, and their stored bytes. */
  readonly copied: number
  readonly copiedBytes: number
  /** Chunks not uploaded: unchanged since the base, or already held by the target. */
  readonly skipped: number
  /** Chunks read from the source. */
  readonly read: number
}

export async function mirrorPoint(
  task: TaskContext,
  from: Repository,
  to: Repository,
  copy: PointCopy,
): Promise<PointCopyStats> {
  const { signal } = task
  const manifest = await readManifest(from, copy.ref, signal)
  const sourceBase = copy.sourceBase && (await readManifest(from, copy.sourceBase, signal))
  const point = await PointWriter.begin(to, {
    vm: copy.ref.vm,
    metadata: manifest.vm.metadata,
    tags: manifest.tags,
    jobId: manifest.jobId,
    scheduleId: manifest.scheduleId,
    base: copy.targetBase,
    copyOf: { pointId: manifest.pointId, startedAt: manifest.startedAt, finishedAt: manifest.finishedAt },
    concurrency: copy.concurrency,
    signal,
  })
  try {
    let read = 0
    for (const [n, disk] of manifest.disks.entries()) {
      const reader = new DiskReader(from, disk.name, await readDiskIndex(from, disk.index, signal))
      const base = await baseDisk(from, sourceBase, n, signal)
      const writer = point.openDisk(disk.name, disk.size, n, disk.role) // a memory image stays one
      try {
        read += await copyOneDisk(task, to, reader, base, writer, copy)
      } finally {
        // Their caches' memory goes to the next disk, not to the codec threads (shared-memory.ts).
        reader.close()
        base?.close()
      }
    }
    const done = await point.commit({ full: manifest.full })
    const chunks = sum(done.stats.map((s) => s.nonZeroChunks))
    const copied = sum(done.stats.map((s) => s.newChunks))
    return {
      ref: done.ref,
      chunks,
      copied,
      copiedBytes: sum(done.stats.map((s) => s.newBytes)),
      skipped: chunks - copied,
      read,
    }
  } catch (error) {
    await point.abort().catch(() => undefined)
    throw error
  }
}

/** Copies one disk; resolves to the chunks read from the source. */
async function copyOneDisk(
  task: TaskContext,
  to: Repository,
  reader: DiskReader,
  base: DiskReader | undefined,
  writer: DiskWriter,
  copy: PointCopy,
): Promise<number> {
  const { signal } = task
  const skip = copy.sameIds ? await adoptPresent(to, reader, base, writer, signal) : new Set<number>()
  const source = new PointDiskSource(reader, reader.name, { base, parallel: copy.concurrency })
  const sink = new ChunkSink([writer], {
    onProgress: (done, total) => task.progress({ done, total }),
  })
  const outcome = await copyDisk(source, sink, {
    signal,
    skip,
    complete: copy.targetBase !== undefined,
    warn: (message, data) => task.warn(message, data),
  })
  return outcome.chunks
}

/** Chunks the target lists already (same ids): recorded in the writer without reading them. */
async function adoptPresent(
  to: Repository,
  reader: DiskReader,
  base: DiskReader | undefined,
  writer: DiskWriter,
  signal: AbortSignal,
): Promise<Set<number>> {
  const bad = new Set(writer.needed())
  const candidates: number[] = []
  for (let i = 0; i < reader.chunkCount; i++) {
    const id = reader.idOf(i)
    if (id !== undefined && !bad.has(i) && (base === undefined || base.idOf(i) !== id)) candidates.push(i)
  }
  const skip = new Set<number>()
  for (const i of await presentChunks(to, reader, candidates, signal)) {
    // adopt() makes the writer's session protect the chunk (a GC beside us cannot take it).
    if (await writer.adopt(i, Buffer.from(reader.idOf(i)!, 'hex'), signal)) skip.add(i)
  }
  return skip
}

async function baseDisk(
  from: Repository,
  base: Manifest | undefined,
  n: number,
  signal: AbortSignal,
): Promise<DiskReader | undefined> {
  const disk = base?.disks[n]
  if (disk === undefined) return undefined
  return new DiskReader(from, disk.name, await readDiskIndex(from, disk.index, signal))
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}
