import { listPoints, readManifest } from '@strata/core/repository'
import type { Command } from '../command.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'

interface SnapshotRow {
  ref: string
  vm: string
  time: string
  /** With --long (read from the manifest). */
  size?: number
  newBytes?: number
  tags?: readonly string[]
  scheduleId?: string
}

export const repoSnapshots: Command<SnapshotRow[]> = {
  path: ['repo', 'snapshots'],
  usage: 'repo snapshots --repo PATH|URL [--vm VM] [--long]',
  summary: 'List restore points (from object names; --long also reads each manifest)',
  positionals: 0,
  options: { ...repoOption, vm: { type: 'string' }, long: { type: 'boolean' } },
  async run(args, { signal }) {
    const repo = await openRepository(args, signal)
    const points = await listPoints(repo, args.values.vm as string | undefined, signal)
    const rows: SnapshotRow[] = []
    for (const p of points) {
      const row: SnapshotRow = { ref: p.ref, vm: p.vm, time: p.time.toISOString() }
      if (args.values.long === true) {
        const m = await readManifest(repo, p, signal)
        row.size = m.disks.reduce((sum, d) => sum + d.size, 0)
        row.newBytes = m.disks.reduce((sum, d) => sum + d.newBytes, 0)
        row.tags = m.tags
        row.scheduleId = m.scheduleId
      }
      rows.push(row)
    }
    return rows
  },
  format: (rows) =>
    rows.length === 0
      ? 'no restore points'
      : rows
          .map((r) =>
            [
              r.time,
              r.ref,
              r.size === undefined ? '' : `${formatBytes(r.size)} (+${formatBytes(r.newBytes ?? 0)})`,
              (r.tags ?? []).join(','),
            ]
              .filter((s) => s !== '')
              .join('  '),
          )
          .join('\n'),
}
