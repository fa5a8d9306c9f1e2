// The backup engine: per-pool limits, per-VM backup and restore (the data path), and jobs and runs on top.
export * from './limits.js'
export * from './vm-backup.js'
export * from './vm-restore.js'
