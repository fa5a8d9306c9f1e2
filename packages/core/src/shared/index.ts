// Tiny generic helpers used by every module: errors with codes, abort handling, concurrency, retry.
export * from './errors.js'
export * from './abort.js'
export * from './semaphore.js'
export * from './retry.js'
export * from './task-context.js'
export * from './bytes.js'
export * from './direct-writes.js'
export * from './file-io.js'
