// Helpers for tests across packages: real binaries (never skipped: a missing binary fails the test),
// scratch directories, and child processes that are always reaped.
export * from './binaries.js'
export * from './scratch.js'
export * from './tls.js'
export * from './s3-server.js'
export * from './s3-bucket.js'
export * from './s3-inject.js'
export * from './fault-proxy.js'
export * from './killed-writers.js'
export * from './smb-server.js'
export * from './postgres-server.js'
export * from './postgres-inject.js'
export { writeManyPoints } from '../repository/testing/many-points.js'
