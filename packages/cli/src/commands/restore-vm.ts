// `strata restore vm`: rebuilds a VM from a restore point on a pool (any SR, same or another pool). The
// VM is named after its source and the point's date, and tagged so that backups leave it out. A point with
// the VM's memory restores it Suspended on that image (--start resumes it), unless --without-memory.
import { findRestorePoint, processLimits, restoreVm, runRootTask } from '@strata/core/engine'
import { formatPointRef } from '@strata/core/repository'
import type { XapiClient } from '@strata/core/xapi'
import { UsageError, type Command, type ParsedArgs } from '../command.js'
import { POOL_USAGE, connectXapi, poolOptions, str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { openRepository, repoOption } from './repo-common.js'

interface RestoreVmResult {
  point: string
  vmUuid: string
  vmName: string
  started: boolean
  /** Restored Suspended on the point's memory image (resumed if started). */
  withMemory: boolean
  seconds: number
}

/** Options of the restore commands that pick a point: its id, or a VM (uuid or name) for its latest. */
export const pointOptions = { point: { type: 'string' }, vm: { type: 'string' } } as const

export function pointArgs(args: ParsedArgs): { point?: string; vm?: string } {
  const point = str(args.values.point)
  const vm = str(args.values.vm)
  if (point === undefined && vm === undefined)
    throw new UsageError('--point ID (or --vm NAME_OR_UUID for its latest point) is required')
  return { point, vm }
}

export const restoreVmCommand: Command<RestoreVmResult> = {
  path: ['restore', 'vm'],
  usage: `restore vm --repo REPO (--point ID | --vm VM [--point latest]) ${POOL_USAGE} [--sr NAME_OR_UUID] [--tag TAG] [--start] [--without-memory] [--network A=B]...`,
  summary:
    "Rebuild a VM from a restore point on a pool (default SR unless --sr), named '<VM> (restored <date>)' and tagged 'restored from backup' (or --tag); a point with memory restores Suspended (--start resumes it) unless --without-memory",
  positionals: 0,
  options: {
    ...repoOption,
    ...poolOptions,
    ...pointOptions,
    sr: { type: 'string' },
    start: { type: 'boolean' },
    'without-memory': { type: 'boolean' },
    'name-suffix': { type: 'string' },
    tag: { type: 'string' },
    network: { type: 'string', multiple: true },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const wanted = pointArgs(args)
    const networkMap = parseNetworkMap(args.values.network)
    const repository = await openRepository(args, signal)
    const point = formatPointRef(await findRestorePoint(repository, wanted.point, wanted.vm, signal))
    const xapi = await connectXapi(args, signal, stderr)
    const progress = progressRenderer(stderr, json)
    try {
      const sr = str(args.values.sr) ?? (await defaultSr(xapi, signal))
      const { vmUuid, vmName, withMemory } = await runRootTask(
        { emit: progress.onEvent, signal },
        'restore',
        (task) =>
          restoreVm(task, xapi, processLimits.forPool(xapi.url.host), {
            repository,
            pointId: point,
            srUuid: sr,
            networkMap,
            start: args.values.start === true,
            withMemory: args.values['without-memory'] !== true,
            nameSuffix: str(args.values['name-suffix']),
            // '' restores without a tag (the VM is then selected like any other).
            tag: typeof args.values.tag === 'string' ? args.values.tag : undefined,
          }),
        { point, sr },
      )
      return {
        point,
        vmUuid,
        vmName,
        started: args.values.start === true,
        withMemory,
        seconds: (performance.now() - started) / 1000,
      }
    } finally {
      progress.stop()
      await xapi.close()
    }
  },
  format: (r) =>
    `restored ${r.point} as VM '${r.vmName}' (${r.vmUuid})${state(r)} in ${formatDuration(r.seconds * 1000)}`,
}

function state(r: RestoreVmResult): string {
  if (r.withMemory) return r.started ? ', resumed from its memory,' : ', suspended with its memory,'
  return r.started ? ', started,' : ''
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
