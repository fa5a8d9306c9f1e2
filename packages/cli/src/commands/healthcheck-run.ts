// `strata healthcheck run`: boots what was saved and waits for its guest, then destroys everything it
// made: a restore point (--repo, --point) restored to --sr without network, or a replica (--replica)
// through a fast clone. Exit code 1 when the guest never reported (a timeout) or its check failed.
import {
  findReplica,
  healthCheckPoint,
  healthCheckReplica,
  parseDuration,
  processLimits,
  runRootTask,
  type HealthCheckResult,
} from '@strata/core/engine'
import { errorCode, errorMessage } from '@strata/core/shared'
import type { XapiClient } from '@strata/core/xapi'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { POOL_USAGE, poolOptions, str } from './backup-common.js'
import { formatTree, progressRenderer } from './backup-progress.js'
import { withPool } from './pool-common.js'
import { openRepository, repoOption } from './repo-common.js'

interface HealthCheckOutput {
  status: 'success' | 'failure'
  of: string
  result?: HealthCheckResult
  error?: { code: string; message: string }
  tree?: unknown
}

export const healthcheckRun: Command<HealthCheckOutput> = {
  path: ['healthcheck', 'run'],
  usage: `healthcheck run (--repo REPO --point ID --sr SR_UUID | --replica VM) ${POOL_USAGE} [--timeout 10m] [--guest-check]`,
  summary:
    'Boot a restore point (restored to --sr, no network) or a replica (a clone), wait for its guest to report, destroy what was made',
  positionals: 0,
  options: {
    ...repoOption,
    ...poolOptions,
    point: { type: 'string' },
    sr: { type: 'string' },
    replica: { type: 'string' },
    timeout: { type: 'string' },
    'guest-check': { type: 'boolean' },
  },
  async run(args, { signal, stderr, json }) {
    const target = what(args)
    const options = { timeoutMs: timeoutOf(args), guestCheck: args.values['guest-check'] === true }
    const repository = target.kind === 'point' ? await openRepository(args, signal) : undefined
    const progress = progressRenderer(stderr, json)
    try {
      const out = await withPool(args, signal, (xapi) =>
        runRootTask({ emit: progress.onEvent, signal }, 'health check', (task) =>
          target.kind === 'point'
            ? healthCheckPoint(task, xapi, processLimits.forPool(xapi.url.host), {
                ...options,
                repository: repository!,
                pointId: target.point,
                sr: target.sr,
              })
            : checkReplica(task, xapi, target.replica, options),
        ).then(
          (result): HealthCheckOutput => ({ status: 'success', of: target.label, result }),
          (error: unknown): HealthCheckOutput => {
            if (signal.aborted) throw error
            const failed = { code: errorCode(error), message: errorMessage(error) }
            return { status: 'failure', of: target.label, error: failed }
          },
        ),
      )
      const tree = progress.view.roots[0]
      return { ...out, ...(tree === undefined ? {} : { tree }) }
    } finally {
      progress.stop()
    }
  },
  exitCode: (r) => (r.status === 'success' ? 0 : 1),
  format: (r) =>
    [
      ...(r.tree === undefined ? [] : [formatTree(r.tree as Parameters<typeof formatTree>[0]), '']),
      r.status === 'success'
        ? `health check of ${r.of}: success, the guest reported after ${((r.result?.bootMs ?? 0) / 1000).toFixed(1)} s${r.result?.os ? ` (${r.result.os})` : ''}`
        : `health check of ${r.of}: failed (${r.error?.code}): ${r.error?.message}`,
    ].join('\n'),
}

type Target =
  | { kind: 'point'; point: string; sr: string; label: string }
  | { kind: 'replica'; replica: string; label: string }

function what(args: ParsedArgs): Target {
  const point = str(args.values.point)
  const replica = str(args.values.replica)
  if ((point === undefined) === (replica === undefined))
    throw new UsageError('give --point ID (with --repo and --sr) or --replica VM, one of them')
  if (replica !== undefined) return { kind: 'replica', replica, label: `replica '${replica}'` }
  const sr = str(args.values.sr)
  if (sr === undefined)
    throw new UsageError('--sr SR_UUID is required: where the point is restored for the check')
  return { kind: 'point', point: point!, sr, label: `point ${point}` }
}

function timeoutOf(args: ParsedArgs): number {
  try {
    return parseDuration(str(args.values.timeout) ?? '10m', '--timeout')
  } catch (error) {
    throw new UsageError(errorMessage(error))
  }
}

async function checkReplica(
  task: Parameters<typeof healthCheckReplica>[0],
  xapi: XapiClient,
  replica: string,
  o: { timeoutMs: number; guestCheck: boolean },
): Promise<HealthCheckResult> {
  const found = await findReplica(xapi, replica, task.signal)
  task.set({ replica: String(found.record.uuid), name: String(found.record.name_label) })
  return healthCheckReplica(task, xapi, found.ref, o)
}
