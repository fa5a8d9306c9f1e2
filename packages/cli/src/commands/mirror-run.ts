// `strata mirror run`: restore points copied from one repository into another (XO's mirror backup).
// Each side's secret comes from its own variables, never from the command line: the source's from
// STRATA_KEY_FILE / STRATA_PASSPHRASE, the target's from STRATA_TO_KEY_FILE / STRATA_TO_PASSPHRASE.
import { mirrorRepository, runRootTask, type MirrorResult } from '@strata/core/engine'
import { openRepositoryFromEnv } from '@strata/core/open'
import { RepositoryError, type Repository } from '@strata/core/repository'
import { isEmptyPolicy, type RetentionPolicy } from '@strata/core/retention'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { formatBytes, parseCount, readSecret, stringList } from './repo-common.js'

const TARGET_HINT =
  'set STRATA_TO_PASSPHRASE to its passphrase, or STRATA_TO_KEY_FILE to a file holding its key'

interface MirrorRunResult extends MirrorResult {
  readonly from: string
  readonly to: string
  readonly seconds: number
}

export const mirrorRun: Command<MirrorRunResult> = {
  path: ['mirror', 'run'],
  usage:
    'mirror run --from REPO --to REPO [--vm VM]... [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--tz ZONE] [--concurrency N]',
  summary:
    'Copy restore points into another repository, only the chunks it lacks, re-encrypted with its key (secrets: STRATA_PASSPHRASE and STRATA_TO_PASSPHRASE)',
  positionals: 0,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    vm: { type: 'string', multiple: true },
    'keep-last': { type: 'string' },
    'keep-daily': { type: 'string' },
    'keep-weekly': { type: 'string' },
    'keep-monthly': { type: 'string' },
    'keep-yearly': { type: 'string' },
    tz: { type: 'string' },
    concurrency: { type: 'string' },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const from = str(args.values.from)
    const to = str(args.values.to)
    if (from === undefined || to === undefined) throw new UsageError('--from REPO and --to REPO are required')
    const policy = retentionOf(args)
    const concurrency = parseCount(args.values.concurrency, '--concurrency')
    if (concurrency === 0) throw new UsageError('--concurrency: at least 1')
    const source = await openRepositoryFromEnv(from, {
      env: process.env,
      prompt: (name) => readSecret(`passphrase for ${name}: `, undefined),
      signal,
    })
    const target = await openTarget(to, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const result = await runRootTask(
        { emit: progress.onEvent, signal },
        'mirror',
        (task) =>
          mirrorRepository(task, source, target, {
            vms: stringList(args.values.vm),
            policy: isEmptyPolicy(policy) ? undefined : policy,
            timeZone: str(args.values.tz),
            concurrency,
          }),
        { from, to },
      )
      return { from, to, ...result, seconds: (performance.now() - started) / 1000 }
    } finally {
      progress.stop()
    }
  },
  format: (r) =>
    `mirrored ${r.copied.length} restore points from ${r.from} to ${r.to} (${r.alreadyThere} already there, ` +
    `${r.removed.length} removed by retention): ${r.copiedChunks} chunks copied (${formatBytes(r.copiedBytes)}), ` +
    `${r.skippedChunks} skipped, in ${formatDuration(r.seconds * 1000)}`,
}

function retentionOf(args: ParsedArgs): RetentionPolicy {
  const { values } = args
  return {
    keepLast: parseCount(values['keep-last'], '--keep-last'),
    daily: parseCount(values['keep-daily'], '--keep-daily'),
    weekly: parseCount(values['keep-weekly'], '--keep-weekly'),
    monthly: parseCount(values['keep-monthly'], '--keep-monthly'),
    yearly: parseCount(values['keep-yearly'], '--keep-yearly'),
  }
}

/** The target, opened with the STRATA_TO_* secret only (the source's never goes to it). */
async function openTarget(location: string, signal: AbortSignal): Promise<Repository> {
  const { STRATA_PASSPHRASE: _p, STRATA_KEY_FILE: _k, ...rest } = process.env
  const env = {
    ...rest,
    STRATA_PASSPHRASE: rest.STRATA_TO_PASSPHRASE,
    STRATA_KEY_FILE: rest.STRATA_TO_KEY_FILE,
  }
  try {
    return await openRepositoryFromEnv(location, {
      env,
      prompt: (name) => readSecret(`passphrase for ${name}: `, undefined, TARGET_HINT),
      signal,
    })
  } catch (error) {
    if (
      error instanceof RepositoryError &&
      (error.code === 'PASSPHRASE_REQUIRED' || error.code === 'WRONG_PASSPHRASE')
    ) {
      throw new RepositoryError(
        error.code,
        `target '${location}': ${error.message.split(': set ')[0]}: ${TARGET_HINT}`,
        {
          cause: error,
        },
      )
    }
    throw error
  }
}
