import { writeDiskToFile } from '@strata/core/disks'
import { DiskReader, formatPointRef, resolvePoint } from '@strata/core/repository'
import type { Command } from '../command.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'
import { formatTiers, tierBytes, type TierBytes } from './repo-tier-common.js'

interface RestoreResult {
  point: string
  out: string
  size: number
  chunksWritten: number
  seconds: number
  /** Stored bytes read from each tier, for a repository with a cold tier. */
  tiers?: TierBytes
}

export const repoRestoreImage: Command<RestoreResult> = {
  path: ['repo', 'restore-image'],
  usage: 'repo restore-image ID OUT --repo PATH|URL [--disk N] [--no-sync]',
  summary: 'Write a restore point disk back to a raw image: sparse, atomically (temporary file, then rename)',
  positionals: 2,
  options: {
    ...repoOption,
    disk: { type: 'string' },
    concurrency: { type: 'string' },
    'no-sync': { type: 'boolean' },
  },
  async run(args, { signal }) {
    const started = performance.now()
    const [id, out] = args.positionals as [string, string]
    const repo = await openRepository(args, signal)
    const ref = await resolvePoint(repo, id, signal)
    using reader = await DiskReader.open(repo, ref, parseCount(args.values.disk, '--disk') ?? 0, signal)
    // Sparse (zero chunks are holes), atomic (a temporary file renamed into place) and, unless
    // --no-sync, durable before it takes OUT's name.
    await writeDiskToFile(reader, out, 'raw', {
      parallel: parseCount(args.values.concurrency, '--concurrency') ?? 8,
      sync: args.values['no-sync'] !== true,
      signal,
    })
    return {
      point: formatPointRef(ref),
      out,
      size: reader.size,
      chunksWritten: [...reader.nonZeroChunks()].length,
      seconds: (performance.now() - started) / 1000,
      ...tierBytes(repo),
    }
  },
  format: (r) =>
    `${r.out}: ${formatBytes(r.size)} from ${r.point}, ${r.chunksWritten} chunks written in ${r.seconds.toFixed(1)} s` +
    formatTiers(r.tiers),
}
