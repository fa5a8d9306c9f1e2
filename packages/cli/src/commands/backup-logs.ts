// `strata backup logs [RUNID]`: the runs recorded in the data directory, or one run's task tree.
import { join } from 'node:path'
import { listRuns, readRun, type RunSummary, type TaskNode } from '@strata/core/engine'
import type { Command } from '../command.js'
import { dataDir, dataDirOption } from './backup-common.js'
import { formatDuration, formatTree } from './backup-progress.js'

type LogsResult = { runs: RunSummary[] } | { run: TaskNode }

export const backupLogs: Command<LogsResult> = {
  path: ['backup', 'logs'],
  usage: 'backup logs [RUNID] [--data-dir DIR]',
  summary:
    'List backup runs (newest first), or show one run as a task tree with statuses, warnings and sizes',
  positionals: [0, 1],
  options: { ...dataDirOption },
  async run(args) {
    const runs = join(dataDir(args), 'runs')
    const [runId] = args.positionals
    return runId === undefined ? { runs: await listRuns(runs) } : { run: await readRun(runs, runId) }
  },
  format: (r) => {
    if ('run' in r) return formatTree(r.run)
    if (r.runs.length === 0) return 'no runs yet'
    return r.runs
      .map((s) => {
        const when = new Date(s.start).toISOString().replace('T', ' ').slice(0, 19)
        const took = s.end === undefined ? '' : ` in ${formatDuration(s.end - s.start)}`
        const vms = Object.entries(s.vms)
          .filter(([, n]) => n > 0)
          .map(([status, n]) => `${n} ${status}`)
          .join(', ')
        const warnings = s.warnings > 0 ? `, ${s.warnings} warning${s.warnings > 1 ? 's' : ''}` : ''
        return `${s.runId}  ${when}  ${s.jobName}  ${s.status}${took}  VMs: ${vms || 'none'}${warnings}`
      })
      .join('\n')
  },
}
