// `strata backup logs [RUNID]`: the runs recorded in the data directory (filtered by job, state and
// start), or one run's task tree, or (--text) its report as plain text to paste in a ticket.
import { join } from 'node:path'
import { formatRunReport, listRuns, readRun, type RunSummary, type TaskNode } from '@strata/core/engine'
import type { TaskStatus } from '@strata/core'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { dataDir, dataDirOption, str } from './backup-common.js'
import { formatDuration, formatTree } from './backup-progress.js'

type LogsResult = { runs: RunSummary[] } | { run: TaskNode; text?: string }

const STATES: readonly TaskStatus[] = ['pending', 'success', 'failure', 'interrupted', 'skipped']

export const backupLogs: Command<LogsResult> = {
  path: ['backup', 'logs'],
  usage:
    'backup logs [RUNID [--text]] [--job ID] [--state success|failure|interrupted|skipped|pending] [--since DATE|24h|7d] [--data-dir DIR]',
  summary:
    'List backup runs (newest first, filtered by job, state and start), or show one run as a task tree (--text: a plain-text report)',
  positionals: [0, 1],
  options: {
    ...dataDirOption,
    job: { type: 'string' },
    state: { type: 'string' },
    since: { type: 'string' },
    text: { type: 'boolean' },
  },
  async run(args) {
    const runs = join(dataDir(args), 'runs')
    const [runId] = args.positionals
    if (runId === undefined) return { runs: await listRuns(runs, runFilter(args)) }
    if (args.values.job !== undefined || args.values.state !== undefined || args.values.since !== undefined)
      throw new UsageError('--job, --state and --since filter the list of runs, not one run')
    const run = await readRun(runs, runId)
    return args.values.text === true ? { run, text: formatRunReport(run) } : { run }
  },
  format: (r) => {
    if ('run' in r) return r.text ?? formatTree(r.run)
    if (r.runs.length === 0) return 'no runs'
    return r.runs.map(summaryLine).join('\n')
  },
}

function runFilter(args: ParsedArgs): Parameters<typeof listRuns>[1] {
  if (args.values.text === true) throw new UsageError('--text prints the report of one run: give its RUNID')
  const state = str(args.values.state)
  if (state !== undefined && !STATES.includes(state as TaskStatus))
    throw new UsageError(`--state is one of ${STATES.join(', ')}, not '${state}'`)
  const since = str(args.values.since)
  return {
    jobId: str(args.values.job),
    status: state as TaskStatus | undefined,
    since: since === undefined ? undefined : parseSince(since),
  }
}

/** '2026-12-07', '2026-12-07T02:00' (UTC unless the text gives a zone), or an age: '90m', '24h', '7d'. */
export function parseSince(text: string, now = Date.now()): number {
  const age = /^(\d+)\s*(m|h|d)$/.exec(text.trim())
  if (age !== null) return now - Number(age[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 'm']
  const date = /^(\d{4}-\d\d-\d\d)(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.exec(
    text.trim().replace(' ', 'T'),
  )
  const time = date === null ? NaN : Date.parse(`${date[1]}${date[2] ?? 'T00:00'}${date[3] ?? 'Z'}`)
  if (Number.isNaN(time))
    throw new UsageError(
      `--since: '${text}' is neither a date (2026-12-07, 2026-12-07T02:00) nor an age (24h, 7d)`,
    )
  return time
}

function summaryLine(s: RunSummary): string {
  const when = new Date(s.start).toISOString().replace('T', ' ').slice(0, 19)
  const took = s.end === undefined ? '' : ` in ${formatDuration(s.end - s.start)}`
  const vms = Object.entries(s.vms)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ')
  const names = s.vmNames.length > 0 ? ` (${s.vmNames.join(', ')})` : ''
  const warnings = s.warnings > 0 ? `, ${s.warnings} warning${s.warnings > 1 ? 's' : ''}` : ''
  const points = s.points.length > 0 ? `, ${s.points.length} point${s.points.length > 1 ? 's' : ''}` : ''
  return `${s.runId}  ${when}  ${s.jobName}  ${s.status}${took}  VMs: ${vms || 'none'}${names}${warnings}${points}`
}
