import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { ChunkSink, copyDisk, FileDiskSource } from '@strata/core/disks'
import { PointWriter, resolvePoint } from '@strata/core/repository'
import { UsageError, type Command } from '../command.js'
import { parseChangedList } from './repo-changed-list.js'
import { formatBytes, openRepository, parseCount, repoOption, stringList } from './repo-common.js'

interface BackupResult {
  point: string
  size: number
  chunks: number
  chunksRead: number
  nonZeroChunks: number
  /** 'allocation-map' (holes not read) or 'full' (no map known: every chunk read). */
  path: string
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
  async run(args, ctx) {
    const { signal } = ctx
    const started = performance.now()
    const { values } = args
    const file = args.positionals[0]!
    if ((values.changed === undefined) !== (values.base === undefined)) {
      throw new UsageError('--changed and --base go together')
    }
    const repo = await openRepository(args, signal)
    const base = typeof values.base === 'string' ? await resolvePoint(repo, values.base, signal) : undefined
    const source = await FileDiskSource.open(file, {
      inFlight: parseCount(values.concurrency, '--concurrency') ?? 6,
      changed: await changedChunks(values.changed as string | undefined, repo.chunkSize, file),
    })
    try {
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
        const disk = point.openDisk(basename(file), source.size)
        const outcome = await copyDisk(source, new ChunkSink([disk]), {
          signal,
          // Over a base, holes where the base had data must become zeros.
          complete: base !== undefined,
          warn: (message) => ctx.stderr.write(`warning: ${message}\n`),
        })
        const done = await point.commit()
        await done.retention // immutable repositories: shared chunks extended before the process ends
        const stats = done.stats[0]!
        return {
          point: done.ref,
          size: source.size,
          chunks: disk.chunkCount,
          chunksRead: outcome.chunks,
          nonZeroChunks: stats.nonZeroChunks,
          path: outcome.path,
          newChunks: stats.newChunks,
          newBytes: stats.newBytes,
          seconds: (performance.now() - started) / 1000,
        }
      } catch (error) {
        await point.abort().catch(() => undefined)
        throw error
      }
    } finally {
      await source.close()
    }
  },
  format: (r) =>
    `${r.point}: ${formatBytes(r.size)}, read ${r.chunksRead}/${r.chunks} chunks (${r.path}), ${r.nonZeroChunks} non-zero, ` +
    `${r.newChunks} new (${formatBytes(r.newBytes)} stored) in ${r.seconds.toFixed(1)} s`,
}

/** The chunks a --changed list names (the file's size gives the chunk count), or undefined: all. */
async function changedChunks(
  changed: string | undefined,
  chunkSize: number,
  file: string,
): Promise<number[] | undefined> {
  if (changed === undefined) return undefined
  const text = changed.startsWith('@') ? await readFile(changed.slice(1), 'utf8') : changed
  const { size } = await stat(file)
  // What the writer cannot take from the base (bad chunks, a resized tail) the source adds itself.
  return parseChangedList(text, chunkSize, Math.ceil(size / chunkSize))
}
