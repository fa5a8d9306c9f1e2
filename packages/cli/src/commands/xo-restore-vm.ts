// `strata xo restore-vm`: a VM rebuilt on a pool from an XO restore point: a delta point from its VM,
// VBD, VDI and VIF records with each disk read through its chain, a full point by importing its XVA.
import { processLimits, runRootTask, type TaskTreeOptions } from '@strata/core/engine'
import type { XapiClient } from '@strata/core/xapi'
import { openPoint, restoreXoVm, type XoRemote, type XoRestorePoint } from '@strata/core/xo'
import type { Command, ParsedArgs } from '../command.js'
import { POOL_USAGE, connectXapi, poolOptions, str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { backupId, defaultSr, openXoRemote, parseNetworkMap, remoteOption } from './xo-common.js'

interface XoRestoreVmResult {
  backup: string
  vmUuid: string
  started: boolean
  seconds: number
}

export const xoRestoreVm: Command<XoRestoreVmResult> = {
  path: ['xo', 'restore-vm'],
  usage: `xo restore-vm --remote PATH|s3://… --backup ID ${POOL_USAGE} [--sr UUID] [--start] [--network A=B]...`,
  summary: 'Rebuild a VM from a Xen Orchestra restore point on a pool (default SR unless --sr)',
  positionals: 0,
  options: {
    ...remoteOption,
    ...poolOptions,
    backup: { type: 'string' },
    sr: { type: 'string' },
    start: { type: 'boolean' },
    'name-suffix': { type: 'string' },
    network: { type: 'string', multiple: true },
  },
  async run(args, { signal, stderr, json }) {
    const started = performance.now()
    const backup = backupId(args)
    const remote = await openXoRemote(args, signal)
    const progress = progressRenderer(stderr, json)
    try {
      const point = await openPoint(remote, backup, signal)
      const xapi = await connectXapi(args, signal, stderr)
      try {
        const vmUuid = await restoreOnPool(args, xapi, remote, point, progress.onEvent, signal)
        const seconds = (performance.now() - started) / 1000
        return { backup, vmUuid, started: args.values.start === true, seconds }
      } finally {
        await xapi.close()
      }
    } finally {
      progress.stop()
      await remote.close()
    }
  },
  format: (r) =>
    `restored ${r.backup} as VM ${r.vmUuid}${r.started ? ' (started)' : ''} in ${formatDuration(r.seconds * 1000)}`,
}

async function restoreOnPool(
  args: ParsedArgs,
  xapi: XapiClient,
  remote: XoRemote,
  point: XoRestorePoint,
  emit: TaskTreeOptions['emit'],
  signal: AbortSignal,
): Promise<string> {
  const sr = str(args.values.sr) ?? (await defaultSr(xapi, signal))
  const options = {
    srUuid: sr,
    networkMap: parseNetworkMap(args.values.network),
    start: args.values.start === true,
    nameSuffix: str(args.values['name-suffix']),
  }
  // The pool's transfer limit applies as for any restore: one XAPI import per slot.
  const limits = processLimits.forPool(xapi.url.host)
  const { vmUuid } = await runRootTask(
    { emit, signal },
    'restore',
    (task) => limits.transfers.run(() => restoreXoVm(task, xapi, remote, point, options), task.signal),
    { backup: point.summary.id, sr },
  )
  return vmUuid
}
