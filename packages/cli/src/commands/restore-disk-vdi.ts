// `strata restore disk --to-vdi VDI_UUID --pool URL ... --differential`: one disk of a restore point onto
// an existing VDI, rewriting only the blocks that differ from the point (found by CBT, else by reading
// the VDI over NBD and comparing chunk ids). Prints what was compared and what was rewritten.
import { runRootTask } from '@strata/core/engine'
import type { Repository } from '@strata/core/repository'
import { restoreDiskDifferential, type DifferentialRestoreResult } from '@strata/core/restore'
import { UsageError, type CommandContext, type ParsedArgs } from '../command.js'
import { connectXapi, str } from './backup-common.js'
import { formatDuration, progressRenderer } from './backup-progress.js'
import { formatBytes } from './repo-common.js'

export interface RestoreDiskToVdiResult extends DifferentialRestoreResult {
  point: string
  disk: number
  seconds: number
}

/** The VDI to write, when --to-vdi is given (checked against --to and --differential). */
export function vdiTarget(args: ParsedArgs): string | undefined {
  const vdi = str(args.values['to-vdi'])
  const file = str(args.values.to)
  if (vdi !== undefined && file !== undefined)
    throw new UsageError('give --to FILE or --to-vdi VDI_UUID, not both')
  if (vdi === undefined) {
    if (args.values.differential === true)
      throw new UsageError('--differential restores onto --to-vdi VDI_UUID')
    return undefined
  }
  if (args.values.differential !== true)
    throw new UsageError(
      '--to-vdi rewrites an existing VDI: give --differential (only what differs is written)',
    )
  if (str(args.values.pool) === undefined)
    throw new UsageError('--to-vdi needs --pool URL --fingerprint SHA256')
  return vdi
}

export async function restoreDiskToVdi(
  args: ParsedArgs,
  { signal, stderr, json }: CommandContext,
  o: { repository: Repository; point: string; disk: number; vdiUuid: string },
): Promise<RestoreDiskToVdiResult> {
  const started = performance.now()
  const xapi = await connectXapi(args, signal, stderr)
  const progress = progressRenderer(stderr, json)
  try {
    const result = await runRootTask(
      { emit: progress.onEvent, signal },
      'restore',
      (task) => restoreDiskDifferential(task, xapi, { ...o, pointId: o.point }),
      { point: o.point, disk: o.disk, vdiUuid: o.vdiUuid, differential: true },
    )
    return { point: o.point, disk: o.disk, ...result, seconds: (performance.now() - started) / 1000 }
  } finally {
    progress.stop()
    await xapi.close()
  }
}

export function formatToVdi(r: RestoreDiskToVdiResult): string {
  const how = r.path === 'cbt' ? 'found by CBT' : `found by reading ${formatBytes(r.readBytes)} over NBD`
  return (
    `rewrote ${formatBytes(r.rewrittenBytes)} of VDI ${r.vdiUuid} (disk ${r.disk} of ${r.point}), ${how}: ` +
    `${formatBytes(r.comparedBytes)} compared, ${formatBytes(r.differingBytes)} differing, ` +
    `in ${formatDuration(r.seconds * 1000)}`
  )
}
