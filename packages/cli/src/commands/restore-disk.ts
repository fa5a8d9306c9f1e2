// `strata restore disk`: one disk of a restore point to a raw or VHD file (an existing file only with
// --force). Its rate counts the disk, with the zeros skipped (holes, absent VHD blocks) shown apart.
// With --to-vdi and --differential, onto an existing VDI of a pool instead (restore-disk-vdi.ts).
import { findRestorePoint, restoreDiskToFile, runRootTask } from '@strata/core/engine'
import { formatPointRef } from '@strata/core/repository'
import { UsageError, type Command } from '../command.js'
import { POOL_USAGE, poolOptions, str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'
import { formatTiers, tierBytes, type TierBytes } from './repo-tier-common.js'
import { pointArgs, pointOptions } from './restore-vm.js'
import { formatToVdi, restoreDiskToVdi, vdiTarget, type RestoreDiskToVdiResult } from './restore-disk-vdi.js'

interface RestoreDiskResult {
  point: string
  disk: number
  path: string
  format: 'raw' | 'vhd'
  /** Bytes of the file written. */
  bytes: number
  /** The disk's size, its non-zero bytes (written) and its zero bytes (skipped). */
  size: number
  dataBytes: number
  zeroBytes: number
  seconds: number
  /** Bytes of the disk per second. */
  rate: number
  /** Stored bytes read from each tier, for a repository with a cold tier. */
  tiers?: TierBytes
}

export const restoreDiskCommand: Command<RestoreDiskResult | RestoreDiskToVdiResult> = {
  path: ['restore', 'disk'],
  usage:
    'restore disk --repo REPO (--point ID | --vm VM [--point latest]) [--disk N] (--to FILE [--format raw|vhd] [--force] | ' +
    `--to-vdi VDI_UUID ${POOL_USAGE} --differential)`,
  summary:
    'Write one disk of a restore point to a raw image or a dynamic VHD file (an existing FILE is replaced only with --force), ' +
    'or onto an existing VDI rewriting only the blocks that differ from the point (--differential)',
  positionals: 0,
  options: {
    ...repoOption,
    ...pointOptions,
    ...poolOptions,
    disk: { type: 'string' },
    to: { type: 'string' },
    'to-vdi': { type: 'string' },
    differential: { type: 'boolean' },
    format: { type: 'string' },
    force: { type: 'boolean' },
  },
  async run(args, context) {
    const { signal, stderr, json } = context
    const started = performance.now()
    const wanted = pointArgs(args)
    const vdiUuid = vdiTarget(args)
    if (vdiUuid !== undefined) {
      const disk = parseCount(args.values.disk, '--disk') ?? 0
      const repository = await openRepository(args, signal)
      const point = formatPointRef(await findRestorePoint(repository, wanted.point, wanted.vm, signal))
      return restoreDiskToVdi(args, context, { repository, point, disk, vdiUuid })
    }
    const path = str(args.values.to)
    if (path === undefined)
      throw new UsageError('--to FILE (or --to-vdi VDI_UUID --differential) is required')
    const format = str(args.values.format) ?? 'raw'
    if (format !== 'raw' && format !== 'vhd') throw new UsageError("--format is 'raw' or 'vhd'")
    const disk = parseCount(args.values.disk, '--disk') ?? 0
    const repository = await openRepository(args, signal)
    const point = formatPointRef(await findRestorePoint(repository, wanted.point, wanted.vm, signal))
    const overwrite = args.values.force === true
    const progress = progressRenderer(stderr, json)
    try {
      const written = await runRootTask(
        { emit: progress.onEvent, signal },
        'restore',
        (task) => restoreDiskToFile(task, { repository, pointId: point, disk, path, format, overwrite }),
        { point, disk },
      )
      const seconds = (performance.now() - started) / 1000
      const rate = written.size / Math.max(seconds, 1e-3)
      return { point, disk, path, format, ...written, seconds, rate, ...tierBytes(repository) }
    } finally {
      progress.stop()
    }
  },
  format: (r) => ('vdiUuid' in r ? formatToVdi(r) : formatToFile(r)),
}

function formatToFile(r: RestoreDiskResult): string {
  return (
    `wrote disk ${r.disk} of ${r.point} to ${r.path} (${r.format}, ${formatBytes(r.bytes)}): ` +
    `${formatBytes(r.size)} in ${formatDuration(r.seconds * 1000)} at ${formatBytes(r.rate)}/s, ` +
    `${formatBytes(r.dataBytes)} of data, ${formatBytes(r.zeroBytes)} of zeros skipped` +
    formatTiers(r.tiers)
  )
}
