// `GET /api/coverage`: which job backs up each VM of each pool (the engine's own selection, run by the
// server on the pools' live caches) and the VM's last backup run; a VM no enabled job selects is
// uncovered.
import { Type, type Static } from '@sinclair/typebox'
import { TaskStatus } from './api-runs.js'

export const CoverageJob = Type.Object({ id: Type.String(), name: Type.String(), enabled: Type.Boolean() })
export type CoverageJob = Static<typeof CoverageJob>

/** The newest backup run that had the VM in it, and how it went for that VM. */
export const LastBackup = Type.Object({
  runId: Type.String(),
  jobId: Type.String(),
  jobName: Type.String(),
  time: Type.Number({ description: 'When the run started.' }),
  status: TaskStatus,
})
export type LastBackup = Static<typeof LastBackup>

export const CoveredVm = Type.Object({
  uuid: Type.String(),
  name: Type.String(),
  powerState: Type.Optional(Type.String()),
  tags: Type.Array(Type.String()),
  jobs: Type.Array(CoverageJob, { description: 'Every job whose selection matches the VM now.' }),
  covered: Type.Boolean({ description: 'An enabled job selects it.' }),
  lastBackup: Type.Optional(LastBackup),
})
export type CoveredVm = Static<typeof CoveredVm>

export const PoolCoverage = Type.Object({
  id: Type.String(),
  name: Type.String(),
  connected: Type.Boolean(),
  error: Type.Optional(Type.String({ description: 'Why the VMs of a pool not connected are unknown.' })),
  vms: Type.Array(CoveredVm),
})
export type PoolCoverage = Static<typeof PoolCoverage>

export const Coverage = Type.Object({ pools: Type.Array(PoolCoverage) })
export type Coverage = Static<typeof Coverage>
