// Object stores: where repository bytes live. One small interface (ObjectStore), implementations
// (memory, local directory, S3) and wrappers of the same interface (retry, limits, logging).
export * from './object-store.js'
export * from './storage-error.js'
export * from './memory-store.js'
