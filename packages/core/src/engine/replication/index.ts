// Replication: a VM kept as a ready-to-start copy on another SR (any pool), by delta or full runs.
export { replicateVm, type ReplicaTargetSession, type VmReplicationResult } from './replicate-vm.js'
export type { VmReplicationSettings, ReplicaWritten } from './replicate-vm.js'
export {
  failover,
  findReplica,
  listReplicas,
  ReplicaError,
  type FailoverResult,
  type ReplicaInfo,
} from './failover.js'
export { REPLICA, REPLICA_TAG, START_BLOCKED, XO } from './replica-keys.js'
