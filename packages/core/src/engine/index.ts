// The backup engine: per-pool limits, per-VM backup and restore (the data path), and jobs, runs and
// restore runs on top, each in a worker process of its own.
export * from './limits.js'
export * from './vm-backup.js'
export * from './vm-restore.js'
export * from './restore-points.js'
export * from './job.js'
export * from './selection.js'
export * from './task-tree.js'
export * from './task-view.js'
export * from './run-log.js'
export * from './run-report.js'
export * from './limits-registry.js'
export * from './job-lock.js'
export * from './run.js'
export * from './metadata-run.js'
export { runVm, type VmOutcome } from './run-vm.js'
export { connectPool, poolClient, type PoolSession } from './pool-session.js'
export * from './pool-objects.js'
export * from './restore-run.js'
export {
  runJobInWorker,
  runRestoreInWorker,
  WorkerError,
  type RestoreWorkerOptions,
  type WorkerOptions,
  type WorkerRunOptions,
} from './worker.js'
export * from './replication/index.js'
export * from './health/index.js'
export * from './mirror/index.js'
export { slotEnv, slotSecrets, slotVariable } from './worker-secrets.js'
export { runMaintenance, type MaintenanceKind, type MaintenanceSettings } from './maintenance-task.js'
