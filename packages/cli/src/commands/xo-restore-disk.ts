// `strata xo restore-disk`: one disk of an XO restore point to a raw image or a dynamic VHD file. A
// delta point is read through its whole chain, an XVA front to back; nothing is written to the remote.
import { runRootTask } from '@strata/core/engine'
import { openPoint, writeXoDiskToFile } from '@strata/core/xo'
import { UsageError, type Command } from '../command.js'
import { str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { formatBytes, parseCount } from './repo-common.js'
import { backupId, openXoRemote, remoteOption } from './xo-common.js'

interface XoRestoreDiskResult {
  backup: string
  disk: number
  path: string
  format: 'raw' | 'vhd'
  size: number
  bytes: number
  seconds: number
}

export const xoRestoreDisk: Command<XoRestoreDiskResult> = {
  path: ['xo', 'restore-disk'],
  usage: 'xo restore-disk --remote PATH|s3://… --backup ID --disk N --to OUT [--format raw|vhd] [--force]',
  summary:
    'Write one disk of a Xen Orchestra restore point to a raw image or a VHD file (--force replaces OUT)',
  positionals: 0,
  options: {
    ...remoteOption,
    backup: { type: 'string' },
    disk: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    force: { type: 'boolean' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const backup = backupId(args)
    const path = str(args.values.to)
    if (path === undefined) throw new UsageError('--to FILE is required')
    const format = str(args.values.format) ?? 'raw'
    if (format !== 'raw' && format !== 'vhd') throw new UsageError("--format is 'raw' or 'vhd'")
    const disk = parseCount(args.values.disk, '--disk')
    if (disk === undefined) throw new UsageError('--disk N is required (see strata xo list)')
    const remote = await openXoRemote(args, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const { size, bytes } = await runRootTask(
        { emit: progress.onEvent, signal },
        'restore',
        async (task) => {
          const source = await (await openPoint(remote, backup, task.signal)).openDisk(disk, task.signal)
          const written = await writeXoDiskToFile(source, path, {
            format,
            force: args.values.force === true,
            signal: task.signal,
            onProgress: (done) => task.progress({ done, total: source.size }),
          })
          return { size: source.size, bytes: written }
        },
        { backup, disk },
      )
      return { backup, disk, path, format, size, bytes, seconds: (performance.now() - started) / 1000 }
    } finally {
      progress.stop()
      await remote.close()
    }
  },
  format: (r) =>
    `wrote disk ${r.disk} of ${r.backup} to ${r.path} (${r.format}, ${formatBytes(r.bytes)}) in ${formatDuration(r.seconds * 1000)}`,
}
