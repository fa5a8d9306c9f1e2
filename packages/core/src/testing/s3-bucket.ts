// Helpers for tests that use the shared S3 server: a fresh bucket per test file, and the location and
// environment that openStore() takes to reach it.
import { randomBytes } from 'node:crypto'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import type { S3ServerInfo } from './s3-server.js'

/**
 * Creates a bucket with a fresh random name and returns the name. `objectLock`: the bucket is created with Object Lock enabled (and so versioned), as
 * immutable repositories need.
 */
export async function createTestBucket(
  server: S3ServerInfo,
  prefix = 'strata-test',
  { objectLock = false }: { objectLock?: boolean } = {},
): Promise<string> {
  const bucket = `${prefix}-${randomBytes(6).toString('hex')}`
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  })
  try {
    await client.send(
      new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: objectLock || undefined }),
    )
  } finally {
    client.destroy()
  }
  return bucket
}

/** 's3+http://127.0.0.1:PORT/BUCKET[/PREFIX]' for openStore(). */
export function s3Location(server: S3ServerInfo, bucket: string, prefix = ''): string {
  const host = new URL(server.endpoint).host
  return `s3+http://${host}/${bucket}${prefix === '' ? '' : `/${prefix}`}`
}

/** The environment openStore() reads the server's credentials from. */
export function s3Env(server: S3ServerInfo): Record<string, string> {
  return { STRATA_S3_ACCESS_KEY_ID: server.accessKeyId, STRATA_S3_SECRET_ACCESS_KEY: server.secretAccessKey }
}
