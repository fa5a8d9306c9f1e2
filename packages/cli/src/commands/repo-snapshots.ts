// `strata repo snapshots`: the restore points of a repository, or of one VM named by uuid or name, with
// what each is: the VM's name, the job and schedule that wrote it, full or delta (and 'with memory' when it
// holds the VM's memory image), the new data it added.
import { listRestorePoints, type RestorePointInfo } from '@strata/core/engine'
import type { Command } from '../command.js'
import { str } from './backup-common.js'
import { formatTable } from './pool-common.js'
import { formatBytes, openRepository, repoOption } from './repo-common.js'

interface SnapshotRow extends Omit<RestorePointInfo, 'time' | 'disks' | 'tags'> {
  /** The VM's uuid (kept under its former name for scripts). */
  readonly vm: string
  readonly time: string
  /** With --long. */
  readonly disks?: RestorePointInfo['disks']
  readonly tags?: readonly string[]
}

export const repoSnapshots: Command<SnapshotRow[]> = {
  path: ['repo', 'snapshots'],
  usage: 'repo snapshots --repo PATH|URL [--vm NAME_OR_UUID] [--long]',
  summary:
    'List restore points, oldest first: VM, date, job and schedule, full or delta, new data, protected (--long: disks and tags)',
  positionals: 0,
  options: { ...repoOption, vm: { type: 'string' }, long: { type: 'boolean' } },
  async run(args, { signal }) {
    const repo = await openRepository(args, signal)
    return (await listRestorePoints(repo, str(args.values.vm), signal)).map(
      ({ time, disks, tags, ...p }): SnapshotRow => ({
        ...p,
        vm: p.vmUuid,
        time: time.toISOString(),
        ...(args.values.long === true ? { disks, tags } : {}),
      }),
    )
  },
  format: (points) => {
    if (points.length === 0) return 'no restore points (of a VM, when --vm names one by uuid or name)'
    const table = formatTable(
      ['DATE (UTC)', 'VM', 'JOB', 'SCHEDULE', 'KIND', 'SIZE', 'NEW DATA', 'PROTECTED', 'POINT'],
      points.map((p) => [
        p.time.slice(0, 19).replace('T', ' '),
        p.vmName,
        p.jobId ?? '-',
        p.scheduleId ?? '-',
        p.withMemory ? `${p.kind}, with memory` : p.kind,
        formatBytes(p.size),
        formatBytes(p.newBytes),
        p.protected ? 'yes' : '-',
        p.ref,
      ]),
    )
    const details = points
      .filter((p) => p.disks !== undefined)
      .map(
        (p) =>
          `${p.ref}: ${p.disks!.map((d) => `${d.name}${d.role === 'memory' ? ' (memory)' : ''} ${formatBytes(d.size)} (+${formatBytes(d.newBytes)})`).join(', ')}` +
          `${p.tags?.length ? `; tags ${p.tags.join(', ')}` : ''}`,
      )
    return [table, ...(details.length > 0 ? ['', ...details] : [])].join('\n')
  },
}
