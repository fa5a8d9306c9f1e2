// `strata restore disk`: one disk of a restore point to a raw or VHD file.
import { restoreDiskToFile, runRootTask } from '@strata/core/engine'
import { UsageError, type Command } from '../command.js'
import { str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { formatBytes, openRepository, parseCount, repoOption } from './repo-common.js'

interface RestoreDiskResult {
  point: string
  disk: number
  path: string
  format: 'raw' | 'vhd'
  bytes: number
  seconds: number
}

export const restoreDiskCommand: Command<RestoreDiskResult> = {
  path: ['restore', 'disk'],
  usage: 'restore disk --repo REPO --point ID --disk N --to FILE [--format raw|vhd]',
  summary: 'Write one disk of a restore point to a raw image or a dynamic VHD file',
  positionals: 0,
  options: {
    ...repoOption,
    point: { type: 'string' },
    disk: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const point = str(args.values.point)
    const path = str(args.values.to)
    if (point === undefined || path === undefined)
      throw new UsageError('--point ID and --to FILE are required')
    const format = str(args.values.format) ?? 'raw'
    if (format !== 'raw' && format !== 'vhd') throw new UsageError("--format is 'raw' or 'vhd'")
    const disk = parseCount(args.values.disk, '--disk') ?? 0
    const repository = await openRepository(args, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const { bytes } = await runRootTask(
        { emit: progress.onEvent, signal },
        'restore',
        (task) => restoreDiskToFile(task, { repository, pointId: point, disk, path, format }),
        { point, disk },
      )
      return { point, disk, path, format, bytes, seconds: (performance.now() - started) / 1000 }
    } finally {
      progress.stop()
    }
  },
  format: (r) =>
    `wrote disk ${r.disk} of ${r.point} to ${r.path} (${r.format}, ${formatBytes(r.bytes)}) in ${formatDuration(r.seconds * 1000)}`,
}
