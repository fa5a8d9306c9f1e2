// Backs up one VM into one or more repositories: snapshot, find changed blocks, read, store, clean up.
import type { Repository } from '../repository/index.js'
import { StrataError, type TaskContext } from '../shared/index.js'
import type { XapiClient } from '../xapi/index.js'
import type { PoolLimits } from './limits.js'

export interface BackupTarget {
  readonly name: string
  readonly repository: Repository
}

export interface VmBackupSettings {
  readonly runId: string
  readonly jobId: string
  readonly scheduleId?: string
  /** delta: reuse a verified base when possible. */
  readonly mode: 'delta' | 'full'
  /** This run is full whatever the base. */
  readonly forceFull?: boolean
  /** Shut the VM down for the snapshot, restart it after. */
  readonly offline?: boolean
  /** VM.checkpoint instead of VM.snapshot. */
  readonly withMemory?: boolean
  /** Default true. */
  readonly preferNbd?: boolean
  /** NBD connections per disk. */
  readonly nbdConnections?: number
  readonly maxBytesPerSecond?: number
  /** Backup snapshots kept on the pool for this job/schedule (default 1). */
  readonly snapshotRetention?: number
  /** Force a changed-block path (tests, diagnostics). */
  readonly changedBlocks?: 'auto' | 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'
}

export interface VmBackupResult {
  readonly vmUuid: string
  readonly points: { target: string; pointId: string }[]
  readonly full: boolean
  readonly bytesRead: number
  readonly bytesStored: number
  readonly warnings: string[]
}

export async function backupVm(
  _task: TaskContext,
  _xapi: XapiClient,
  _limits: PoolLimits,
  vmUuid: string,
  _targets: readonly BackupTarget[],
  _settings: VmBackupSettings,
): Promise<VmBackupResult> {
  throw new StrataError('NOT_IMPLEMENTED', `backup of VM ${vmUuid} is not implemented yet`)
}
