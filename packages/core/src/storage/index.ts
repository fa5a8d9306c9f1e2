// Object stores: where repository bytes live. One small interface (ObjectStore), implementations
// (memory, local directory, S3) and wrappers of the same interface (retry, limits, logging), stacked in
// one place by openStore(). See docs/storage.md.
export * from './object-store.js'
export * from './storage-error.js'
export * from './memory-store.js'
export * from './local-store.js'
// The S3 store is loaded by openStore only when an S3 location is opened: the AWS SDK costs ~0.4 s to load.
export type { S3StoreOptions, S3Credentials } from './s3-store.js'
export * from './retrying-store.js'
export * from './limited-store.js'
export * from './logging-store.js'
export * from './rate-limiter.js'
export * from './location.js'
export * from './open-store.js'
export * from './nas/index.js'
