// Restores a VM, a disk to an SR, or a disk to a file, from a restore point.
import type { Repository } from '../repository/index.js'
import { StrataError, type TaskContext } from '../shared/index.js'
import type { XapiClient } from '../xapi/index.js'
import type { PoolLimits } from './limits.js'

export interface VmRestoreOptions {
  readonly repository: Repository
  readonly pointId: string
  readonly srUuid: string
  /** Source network uuid → target network uuid. */
  readonly networkMap?: Record<string, string>
  readonly start?: boolean
  readonly nameSuffix?: string
}

export async function restoreVm(
  _task: TaskContext,
  _xapi: XapiClient,
  _limits: PoolLimits,
  o: VmRestoreOptions,
): Promise<{ vmUuid: string }> {
  throw new StrataError('NOT_IMPLEMENTED', `restore of point ${o.pointId} is not implemented yet`)
}

export async function restoreDiskToSr(
  _task: TaskContext,
  _xapi: XapiClient,
  _limits: PoolLimits,
  o: { repository: Repository; pointId: string; disk: number; srUuid: string },
): Promise<{ vdiUuid: string }> {
  throw new StrataError('NOT_IMPLEMENTED', `restore of point ${o.pointId} is not implemented yet`)
}

export async function restoreDiskToFile(
  _task: TaskContext,
  o: { repository: Repository; pointId: string; disk: number; path: string; format: 'raw' | 'vhd' },
): Promise<{ bytes: number }> {
  throw new StrataError('NOT_IMPLEMENTED', `restore of point ${o.pointId} is not implemented yet`)
}
