// Health checks: what a backup or a replication saved, booted as a temporary VM and waited for.
export { healthCheckPoint, healthCheckReplica, type PointCheck } from './health-vm.js'
export {
  HealthCheckError,
  HEALTH_CHECK_TAG,
  healthCheckTags,
  type HealthCheckResult,
} from './health-check.js'
export { sweepHealthChecks } from './health-sweep.js'
