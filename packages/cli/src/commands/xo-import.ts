// `strata xo import`: every usable restore point of an XO remote (or of the VMs named, from a date)
// stored in a repository as a Strata restore point, with its VM records, date and job. Stopped and run
// again, it imports only what is not in yet; the report lists what was imported and what was skipped,
// with the reason. Nothing is written to the remote.
import { runRootTask } from '@strata/core/engine'
import { importRemote, type XoImportReport } from '@strata/core/xo'
import type { Command } from '../command.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { parseSince } from './backup-logs.js'
import { str } from './backup-common.js'
import { formatBytes, openRepository, repoOption, stringList } from './repo-common.js'
import { openXoRemote, remoteOption } from './xo-common.js'

type XoImportResult = XoImportReport & { seconds: number }

export const xoImport: Command<XoImportResult> = {
  path: ['xo', 'import'],
  usage: 'xo import --remote PATH|s3://… --repo PATH|URL [--vm VM]... [--since DATE]',
  summary:
    'Import the restore points of a Xen Orchestra remote into a repository (resumable; the remote is only read)',
  positionals: 0,
  options: {
    ...remoteOption,
    ...repoOption,
    vm: { type: 'string', multiple: true },
    since: { type: 'string' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const since = str(args.values.since)
    const options = {
      vms: stringList(args.values.vm),
      since: since === undefined ? undefined : parseSince(since),
    }
    const remote = await openXoRemote(args, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const repo = await openRepository(args, signal)
      const report = await runRootTask(
        { emit: progress.onEvent, signal },
        'xo-import',
        (task) => importRemote(task, remote, repo, options),
        { remote: remote.name },
      )
      return { ...report, seconds: (performance.now() - started) / 1000 }
    } finally {
      progress.stop()
      await remote.close()
    }
  },
  format: formatReport,
}

function formatReport(r: XoImportResult): string {
  const lines = [`XO remote ${r.remote} → repository ${r.repository}`]
  for (const p of r.imported) {
    lines.push(
      `  imported ${p.backup} (${p.mode}, ${date(p.timestamp)}, job ${p.jobId}) as ${p.point}: ` +
        `${p.disks} disk(s), ${formatBytes(p.size)}, ${formatBytes(p.newBytes)} new`,
    )
  }
  for (const s of r.skipped) lines.push(`  skipped ${s.backup} (${date(s.timestamp)}): ${s.reason}`)
  const unusable = r.skipped.filter((s) => s.code !== 'XO_ALREADY_IMPORTED').length
  lines.push(
    `${r.imported.length} imported, ${r.skipped.length - unusable} already in, ${unusable} unusable, ` +
      `in ${formatDuration(r.seconds * 1000)}`,
  )
  return lines.join('\n')
}

const date = (ms: number): string =>
  ms === 0 ? '(no date)' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
