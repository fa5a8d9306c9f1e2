// @strata/contract: the one description of what crosses a boundary. JSON Schemas (TypeBox) of the HTTP
// API and of job files, the TypeScript types inferred from them, the defaults of a job, and the one job
// validator (schema, then what a schema cannot say: cron, time zones, unique ids, retention). The server
// validates and documents its routes with these schemas, the engine and the CLI read job files with
// them, and the web UI types its client and checks its job form with them.
//
// A leaf: it imports no other Strata package and no Node.js module (the UI bundles it for browsers).
export type { Static, TSchema } from '@sinclair/typebox'
export * from './schema-helpers.js'
export * from './job-parts.js'
export * from './replication.js'
export * from './job-file.js'
export * from './api-jobs.js'
export * from './api-resources.js'
export * from './api-runs.js'
export * from './api-files.js'
export * from './api-coverage.js'
export * from './api-maintenance.js'
export * from './api-notifications.js'
export * from './api-stats.js'
export * from './api-usage-history.js'
export * from './api-xo.js'
export * from './api-agents.js'
export * from './problems.js'
export * from './deprecations.js'
export { cronProblem, durationMs, isTimeZone } from './semantics.js'
export * from './validate.js'
export * from './complete-job.js'
