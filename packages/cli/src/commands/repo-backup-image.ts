import { open, readFile, type FileHandle } from 'node:fs/promises'
import { basename } from 'node:path'
import { PointWriter, resolvePoint, type DiskWriter } from '@strata/core/repository'
import { UsageError, type Command } from '../command.js'
import { parseChangedList } from './repo-changed-list.js'
import { formatBytes, openRepository, parseCount, repoOption, stringList } from './repo-common.js'

interface BackupResult {
  point: string
  size: number
  chunks: number
  chunksRead: number
  nonZeroChunks: number
  newChunks: number
  newBytes: number
  seconds: number
}

export const repoBackupImage: Command<BackupResult> = {
  path: ['repo', 'backup-image'],
  usage:
    'repo backup-image FILE --repo PATH|URL [--vm NAME] [--base ID --changed LIST|@FILE] [--tag T]... [--job ID] [--schedule ID]',
  summary: 'Store a raw disk image as a restore point (with --base and --changed, only the changed chunks)',
  positionals: 1,
  options: {
    ...repoOption,
    vm: { type: 'string' },
    base: { type: 'string' },
    changed: { type: 'string' },
    tag: { type: 'string', multiple: true },
    job: { type: 'string' },
    schedule: { type: 'string' },
    concurrency: { type: 'string' },
  },
  async run(args, { signal }) {
    const started = performance.now()
    const { values } = args
    const file = args.positionals[0]!
    if ((values.changed === undefined) !== (values.base === undefined)) {
      throw new UsageError('--changed and --base go together')
    }
    const repo = await openRepository(args, signal)
    const base = typeof values.base === 'string' ? await resolvePoint(repo, values.base, signal) : undefined
    const handle = await open(file, 'r')
    try {
      const size = (await handle.stat()).size
      const point = await PointWriter.begin(repo, {
        vm: typeof values.vm === 'string' ? values.vm : (base?.vm ?? basename(file)),
        metadata: { source: basename(file), kind: 'raw image' },
        tags: stringList(values.tag),
        jobId: values.job as string | undefined,
        scheduleId: values.schedule as string | undefined,
        base,
        signal,
      })
      try {
        const disk = point.openDisk(basename(file), size)
        const wanted = await chunksToRead(disk, values.changed as string | undefined)
        await readChunks(handle, disk, wanted, parseCount(values.concurrency, '--concurrency') ?? 6, signal)
        const done = await point.commit()
        const stats = done.stats[0]!
        return {
          point: done.ref,
          size,
          chunks: disk.chunkCount,
          chunksRead: wanted.length,
          nonZeroChunks: stats.nonZeroChunks,
          newChunks: stats.newChunks,
          newBytes: stats.newBytes,
          seconds: (performance.now() - started) / 1000,
        }
      } catch (error) {
        await point.abort().catch(() => undefined)
        throw error
      }
    } finally {
      await handle.close()
    }
  },
  format: (r) =>
    `${r.point}: ${formatBytes(r.size)}, read ${r.chunksRead}/${r.chunks} chunks, ${r.nonZeroChunks} non-zero, ` +
    `${r.newChunks} new (${formatBytes(r.newBytes)} stored) in ${r.seconds.toFixed(1)} s`,
}

async function chunksToRead(disk: DiskWriter, changed: string | undefined): Promise<number[]> {
  if (changed === undefined) return Array.from({ length: disk.chunkCount }, (_, i) => i)
  const text = changed.startsWith('@') ? await readFile(changed.slice(1), 'utf8') : changed
  const list = parseChangedList(text, disk.repo.chunkSize, disk.chunkCount)
  // Plus what the writer cannot take from the base: chunks marked bad by verify, a resized tail.
  return [...new Set([...list, ...disk.needed()])].sort((a, b) => a - b)
}

/** Reads the wanted chunks with `inFlight` reads at once; memory is inFlight × chunk size. */
async function readChunks(
  handle: FileHandle,
  disk: DiskWriter,
  wanted: number[],
  inFlight: number,
  signal: AbortSignal,
): Promise<void> {
  let next = 0
  const chunkSize = disk.repo.chunkSize
  const worker = async (): Promise<void> => {
    // One buffer per reader, reused: the writer keeps no reference once putChunk resolves, and fresh
    // 2 MiB buffers would cost a page fault per 4 KiB.
    const buffer = Buffer.allocUnsafeSlow(chunkSize)
    while (next < wanted.length) {
      signal.throwIfAborted()
      const index = wanted[next++]!
      const data = buffer.subarray(0, disk.chunkLength(index))
      const { bytesRead } = await handle.read(data, 0, data.length, index * chunkSize)
      if (bytesRead !== data.length) throw new UsageError(`image changed size while reading chunk ${index}`)
      await disk.putChunk(index, data, signal)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker))
}
