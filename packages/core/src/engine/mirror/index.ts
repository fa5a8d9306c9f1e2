// Mirrors: restore points copied from one repository into another, chunk by chunk, re-encoded (and
// re-keyed) for the target, restartable, with the target's own retention.
export * from './mirror-error.js'
export * from './mirror-run.js'
export { mirrorPoint, type PointCopy, type PointCopyStats } from './mirror-point.js'
export { presentChunks } from './present-chunks.js'
