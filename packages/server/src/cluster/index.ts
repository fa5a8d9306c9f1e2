// Coordination of server instances (docs/scale-out.md, "Several servers"): the Coordinator interface,
// one instance alone (LocalCoordinator, the default) and several on one PostgreSQL (PgCoordinator).
export type { ClusterEvent, ClusterRun, Coordinator, OrphanRun } from './coordinator.js'
export { ClusterError, type ClusterErrorCode } from './cluster-error.js'
export { LocalCoordinator } from './local-coordinator.js'
export { PgCoordinator, type PgCoordinatorOptions } from './pg-coordinator.js'
