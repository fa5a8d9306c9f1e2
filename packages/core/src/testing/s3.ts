// The S3 helpers loadable outside vitest, for the bench: a radosgw, buckets, and a proxy that delays or
// breaks requests. The testing index also loads the vitest inject helper, which refuses to load elsewhere.
export * from './s3-server.js'
export * from './s3-bucket.js'
export * from './fault-proxy.js'
