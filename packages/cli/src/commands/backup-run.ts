// `strata backup run`: a job from a JSON file, or the same inline for scripts. The job runs in its own
// worker process (the engine's worker.ts); this command shows its progress and its outcome.
import { createHash } from 'node:crypto'
import { parseJob, runJobInWorker, type Job, type RunResult } from '@strata/core/engine'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import {
  POOL_USAGE,
  dataDir,
  dataDirOption,
  poolOptions,
  poolPassword,
  poolTrust,
  poolUrl,
  str,
} from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { readJobFile } from './job-file.js'
import { formatBytes, repoLocation, stringList } from './repo-common.js'

interface BackupRunResult extends RunResult {
  jobId: string
  seconds: number
  dataDir: string
}

export const backupRun: Command<BackupRunResult> = {
  path: ['backup', 'run'],
  usage: `backup run JOB.json [--schedule ID] | ${POOL_USAGE} --vm VM... --repo REPO [--mode delta|full]`,
  summary:
    'Run a backup job now in a worker process, showing its task tree (runs are kept in --data-dir, default ~/.strata)',
  positionals: [0, 1],
  options: {
    ...poolOptions,
    ...dataDirOption,
    vm: { type: 'string', multiple: true },
    repo: { type: 'string' },
    mode: { type: 'string' },
    schedule: { type: 'string' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const warn = (line: string) => stderr.write(`strata: warning: ${line}\n`)
    const job =
      args.positionals.length === 1 ? await jobFromFile(args.positionals[0]!, args, warn) : inlineJob(args)
    const env: Record<string, string | undefined> = {}
    // The password travels to the worker in its environment, never on a command line or in the log.
    if (job.pools.some((p) => p.password === undefined))
      env.STRATA_XAPI_PASSWORD = await poolPassword(args, stderr)
    const progress = progressRenderer(stderr, json)
    try {
      const dir = dataDir(args)
      const result = await runJobInWorker({
        job,
        scheduleId: str(args.values.schedule),
        dataDir: dir,
        signal,
        env,
        onEvent: progress.onEvent,
      })
      return { ...result, jobId: job.id, seconds: (performance.now() - started) / 1000, dataDir: dir }
    } finally {
      progress.stop()
    }
  },
  exitCode: (r) => (r.status === 'success' ? 0 : r.status === 'interrupted' ? 130 : 1),
  format: (r) =>
    [
      `run ${r.runId} of job ${r.jobId}: ${r.status} in ${formatDuration(r.seconds * 1000)}`,
      ...r.vms.map((v) => {
        const res = v.result
        const size = res
          ? ` ${res.full ? 'full' : 'delta'}, read ${formatBytes(res.bytesRead)}, stored ${formatBytes(res.bytesStored)}, point ${res.points.map((p) => p.pointId).join(' ')}`
          : ''
        const error = v.error ? ` ${v.error.code}: ${v.error.message}` : ''
        return `  VM ${v.name}: ${v.status}${v.attempts > 1 ? ` after ${v.attempts} attempts` : ''}${size}${error}`
      }),
      `details: strata backup logs ${r.runId}${r.dataDir ? ` --data-dir ${r.dataDir}` : ''}`,
    ].join('\n'),
}

async function jobFromFile(path: string, args: ParsedArgs, warn: (line: string) => void): Promise<Job> {
  if (args.values.vm !== undefined || args.values.pool !== undefined)
    throw new UsageError('give a job file or --pool/--vm/--repo, not both')
  if (args.values.fingerprint !== undefined || args.values['insecure-http'] !== undefined)
    throw new UsageError('a job file gives its pools\' "fingerprint" and "insecureHttp" itself')
  return readJobFile(path, warn)
}

/** The inline form: one pool, explicit VMs, one repository. Its id is derived so that reruns share state. */
function inlineJob(args: ParsedArgs): Job {
  const vms = stringList(args.values.vm)
  if (vms.length === 0) throw new UsageError('give a job file, or --vm NAME_OR_UUID (with --pool and --repo)')
  const url = poolUrl(args)
  const location = repoLocation(args)
  const mode = str(args.values.mode) ?? 'delta'
  const id = `inline-${createHash('sha256')
    .update(JSON.stringify([url, vms, location]))
    .digest('hex')
    .slice(0, 12)}`
  return parseJob(
    {
      id,
      name: `inline backup of ${vms.join(', ')}`,
      pools: [{ id: 'pool', url, user: str(args.values.user) ?? 'root', ...poolTrust(args) }],
      vms,
      repositories: [{ name: 'repo', location }],
      settings: { mode },
    },
    'command line',
  )
}
