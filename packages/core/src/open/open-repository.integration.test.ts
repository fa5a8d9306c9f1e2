// openRepository on the run's radosgw: the credentials come from the source given, never the URL or
// the process environment.
import { describe, expect, it } from 'vitest'
import { createTestBucket, requireBinary, s3Env, s3Location, useS3Server } from '../testing/index.js'
import { openRepository } from './open-repository.js'

const server = useS3Server()
const signal = new AbortController().signal

describe('openRepository on S3', () => {
  it('creates and reopens a repository with the credentials it is given', async () => {
    requireBinary('radosgw')
    const location = s3Location(server, await createTestBucket(server), 'open')
    const made = await openRepository(location, { credentials: s3Env(server), create: true, signal })
    await made.store.close?.()
    const opened = await openRepository(location, { credentials: s3Env(server), signal })
    expect(opened.config.id).toBe(made.config.id)
    await opened.store.close?.()
  })
})
