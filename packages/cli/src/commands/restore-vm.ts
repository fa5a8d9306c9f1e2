// `strata restore vm`: rebuilds a VM from a restore point on a pool (any SR, same or another pool).
import { processLimits, restoreVm, runRootTask } from '@strata/core/engine'
import type { XapiClient } from '@strata/core/xapi'
import { UsageError, type Command } from '../command.js'
import { POOL_USAGE, connectXapi, poolOptions, str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { openRepository, repoOption } from './repo-common.js'

interface RestoreVmResult {
  point: string
  vmUuid: string
  started: boolean
  seconds: number
}

export const restoreVmCommand: Command<RestoreVmResult> = {
  path: ['restore', 'vm'],
  usage: `restore vm --repo REPO --point ID ${POOL_USAGE} [--sr UUID] [--start] [--network A=B]...`,
  summary:
    'Rebuild a VM from a restore point on a pool (default SR unless --sr): disks, VBDs, VIFs (network map), started or not',
  positionals: 0,
  options: {
    ...repoOption,
    ...poolOptions,
    point: { type: 'string' },
    sr: { type: 'string' },
    start: { type: 'boolean' },
    'name-suffix': { type: 'string' },
    network: { type: 'string', multiple: true },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const point = str(args.values.point)
    if (point === undefined) throw new UsageError('--point ID is required')
    const networkMap = parseNetworkMap(args.values.network)
    const repository = await openRepository(args, signal)
    const xapi = await connectXapi(args, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const sr = str(args.values.sr) ?? (await defaultSr(xapi, signal))
      const { vmUuid } = await runRootTask(
        { emit: progress.onEvent, signal },
        'restore',
        (task) =>
          restoreVm(task, xapi, processLimits.forPool(xapi.url.host), {
            repository,
            pointId: point,
            srUuid: sr,
            networkMap,
            start: args.values.start === true,
            nameSuffix: str(args.values['name-suffix']),
          }),
        { point, sr },
      )
      return {
        point,
        vmUuid,
        started: args.values.start === true,
        seconds: (performance.now() - started) / 1000,
      }
    } finally {
      progress.stop()
      await xapi.close()
    }
  },
  format: (r) =>
    `restored ${r.point} as VM ${r.vmUuid}${r.started ? ' (started)' : ''} in ${formatDuration(r.seconds * 1000)}`,
}

/** The pool's default SR, for a restore that names none. */
async function defaultSr(xapi: XapiClient, signal: AbortSignal): Promise<string> {
  const [pool] = await xapi.call<string[]>('pool.get_all', [], signal)
  const sr =
    pool === undefined ? 'OpaqueRef:NULL' : await xapi.call<string>('pool.get_default_SR', [pool], signal)
  if (sr === 'OpaqueRef:NULL') throw new UsageError('the pool has no default SR: give --sr UUID')
  return xapi.call<string>('SR.get_uuid', [sr], signal)
}

function parseNetworkMap(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined
  const map: Record<string, string> = {}
  for (const pair of Array.isArray(value) ? value : [value]) {
    const [from, to] = String(pair).split('=')
    if (!from || !to) throw new UsageError(`--network FROM_UUID=TO_UUID, not '${String(pair)}'`)
    map[from] = to
  }
  return map
}
