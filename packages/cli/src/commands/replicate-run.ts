// `strata replicate run`: a replication job from a JSON file, or inline for scripts: VMs of one pool
// copied to an SR of the same pool or of another (--target-pool). The job runs in its own worker process
// like a backup; this command shows its task tree and its outcome. Passwords reach the worker through
// its environment or the job it is handed, never a command line or a log.
import { createHash } from 'node:crypto'
import { parseJob, runJobInWorker, type Job, type RunResult } from '@strata/core/engine'
import { UsageError, type Command, type OptionSpec, type ParsedArgs } from '../command.js'
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
import { formatDuration, formatTree, progressRenderer } from './backup-progress.js'
import { readJobFile } from './job-file.js'
import { formatBytes, parseCount, stringList } from './repo-common.js'

interface ReplicateRunResult extends RunResult {
  jobId: string
  seconds: number
  dataDir: string
  tree?: unknown
}

const targetOptions: OptionSpec = {
  'target-pool': { type: 'string' },
  'target-user': { type: 'string' },
  'target-password': { type: 'string' },
  'target-fingerprint': { type: 'string' },
  'target-insecure-http': { type: 'boolean' },
}

export const replicateRun: Command<ReplicateRunResult> = {
  path: ['replicate', 'run'],
  usage: `replicate run JOB.json [--schedule ID] | ${POOL_USAGE} --vm VM... --sr SR_UUID [--target-pool URL --target-user U --target-password P --target-fingerprint SHA256] [--mode delta|full] [--memory] [--keep N]`,
  summary:
    'Replicate VMs now to an SR of this or another pool (delta: changed blocks onto the replica, a restore point per run; full: disaster recovery), in a worker process',
  positionals: [0, 1],
  options: {
    ...poolOptions,
    ...targetOptions,
    ...dataDirOption,
    vm: { type: 'string', multiple: true },
    sr: { type: 'string' },
    mode: { type: 'string' },
    memory: { type: 'boolean' },
    keep: { type: 'string' },
    schedule: { type: 'string' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const warn = (line: string) => stderr.write(`strata: warning: ${line}\n`)
    const inline = args.positionals.length === 0
    const job = inline ? await inlineJob(args) : await jobFromFile(args.positionals[0]!, args, warn)
    const env: Record<string, string | undefined> = {}
    if (job.pools.some((p) => p.password === undefined)) env.STRATA_XAPI_PASSWORD = await poolPassword(args)
    const progress = progressRenderer(stderr, json)
    try {
      const dir = dataDir(args)
      const result = await runJobInWorker({
        job,
        scheduleId: str(args.values.schedule) ?? (inline ? 'inline' : undefined),
        dataDir: dir,
        signal,
        env,
        onEvent: progress.onEvent,
      })
      const tree = progress.view.roots[0]
      const seconds = (performance.now() - started) / 1000
      return { ...result, jobId: job.id, seconds, dataDir: dir, ...(tree === undefined ? {} : { tree }) }
    } finally {
      progress.stop()
    }
  },
  exitCode: (r) => (r.status === 'success' ? 0 : r.status === 'interrupted' ? 130 : 1),
  format: (r) =>
    [
      ...(r.tree === undefined ? [] : [formatTree(r.tree as Parameters<typeof formatTree>[0]), '']),
      `run ${r.runId} of replication job ${r.jobId}: ${r.status} in ${formatDuration(r.seconds * 1000)}`,
      ...r.vms.map((v) => {
        const res = v.replication
        const made = res
          ? ` ${res.full ? 'full copy' : 'changed blocks'}, read ${formatBytes(res.bytesRead)}, written ${formatBytes(res.bytesWritten)}, ${res.memory ? 'with memory' : 'crash-consistent'}, replica ${res.replicas.map((p) => p.name).join(', ')}`
          : ''
        const error = v.error ? ` ${v.error.code}: ${v.error.message}` : ''
        return `  VM ${v.name}: ${v.status}${v.attempts > 1 ? ` after ${v.attempts} attempts` : ''}${made}${error}`
      }),
      `details: strata backup logs ${r.runId} --data-dir ${r.dataDir}`,
    ].join('\n'),
}

async function jobFromFile(path: string, args: ParsedArgs, warn: (line: string) => void): Promise<Job> {
  const inlineOnly = ['vm', 'pool', 'sr', 'target-pool', 'mode', 'memory', 'keep', 'fingerprint']
  const given = inlineOnly.filter((o) => args.values[o] !== undefined)
  if (given.length > 0) throw new UsageError(`give a job file or --${given[0]} and the rest, not both`)
  const job = await readJobFile(path, warn)
  if (job.kind !== 'replication')
    throw new UsageError(
      `${path} is a backup job: run it with strata backup run (or set "kind": "replication")`,
    )
  return job
}

/** One source pool, explicit VMs, one SR (on the source or the target pool); its id derived for reruns. */
async function inlineJob(args: ParsedArgs): Promise<Job> {
  const vms = stringList(args.values.vm)
  const sr = str(args.values.sr)
  if (vms.length === 0 || sr === undefined)
    throw new UsageError('give a job file, or --vm NAME_OR_UUID and --sr SR_UUID (with --pool)')
  const url = poolUrl(args)
  const mode = str(args.values.mode) ?? 'delta'
  if (mode !== 'delta' && mode !== 'full') throw new UsageError(`--mode delta or full, not '${mode}'`)
  const keep = parseCount(args.values.keep, '--keep') ?? 3
  const source = { id: 'source', url, user: str(args.values.user) ?? 'root', ...poolTrust(args) }
  const target = await targetPool(args)
  const id = `inline-replication-${createHash('sha256')
    .update(JSON.stringify([url, target?.url ?? url, vms, sr, mode]))
    .digest('hex')
    .slice(0, 12)}`
  return parseJob(
    {
      id,
      name: `replication of ${vms.join(', ')}`,
      kind: 'replication',
      pools: target === undefined ? [source] : [source, target],
      vms,
      targets: [{ pool: target === undefined ? 'source' : 'target', sr }],
      settings: { mode, withMemory: args.values.memory === true },
      schedules: [{ id: 'inline', retention: { keepLast: keep } }],
    },
    'command line',
  )
}

/** The inline target pool: its own URL, user, password (else the source's) and certificate. */
async function targetPool(args: ParsedArgs): Promise<Record<string, unknown> | undefined> {
  const url = str(args.values['target-pool'])
  if (url === undefined) {
    const stray = Object.keys(targetOptions).find((o) => args.values[o] !== undefined)
    if (stray !== undefined) throw new UsageError(`--${stray} needs --target-pool URL`)
    return undefined
  }
  const fingerprint = str(args.values['target-fingerprint'])
  const trust = poolTrust({
    positionals: [],
    values: { fingerprint, 'insecure-http': args.values['target-insecure-http'] },
  })
  const password = str(args.values['target-password']) ?? (await poolPassword(args))
  return { id: 'target', url, user: str(args.values['target-user']) ?? 'root', password, ...trust }
}
