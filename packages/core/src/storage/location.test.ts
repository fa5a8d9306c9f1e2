import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseLocation } from './location.js'

const env = { STRATA_S3_ACCESS_KEY_ID: 'AKID', STRATA_S3_SECRET_ACCESS_KEY: 'SECRET' }

describe('parseLocation', () => {
  it('reads local paths and file URLs', () => {
    expect(parseLocation('/srv/backups', {})).toEqual({ kind: 'local', path: '/srv/backups' })
    expect(parseLocation('rel/dir', {})).toEqual({ kind: 'local', path: resolve('rel/dir') })
    expect(parseLocation('file:///mnt/nfs/repo', {})).toEqual({ kind: 'local', path: '/mnt/nfs/repo' })
  })

  it('reads an S3 URL with endpoint, bucket, prefix and options', () => {
    const parsed = parseLocation(
      's3+http://127.0.0.1:7480/bucket/some/prefix?region=eu-1&conditional=yes',
      env,
    )
    expect(parsed).toEqual({
      kind: 's3',
      conditional: 'yes',
      s3: {
        endpoint: 'http://127.0.0.1:7480',
        bucket: 'bucket',
        prefix: 'some/prefix',
        region: 'eu-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKID', secretAccessKey: 'SECRET' },
        conditionalCreate: true,
        partSize: undefined,
      },
    })
  })

  it('uses https, virtual-host style on AWS, and the region and keys from the environment', () => {
    const aws = {
      AWS_ACCESS_KEY_ID: 'A',
      AWS_SECRET_ACCESS_KEY: 'S',
      AWS_SESSION_TOKEN: 'T',
      AWS_REGION: 'eu-west-3',
    }
    const parsed = parseLocation('s3://s3.eu-west-3.amazonaws.com/my-bucket', aws)
    expect(parsed).toMatchObject({
      kind: 's3',
      conditional: 'auto',
      s3: {
        endpoint: 'https://s3.eu-west-3.amazonaws.com',
        prefix: '',
        region: 'eu-west-3',
        forcePathStyle: false,
        credentials: { accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' },
      },
    })
  })

  it('decodes percent-escapes in the prefix and ignores a trailing slash', () => {
    expect(parseLocation('s3://host/bucket/my%20dir/x/', env)).toMatchObject({ s3: { prefix: 'my dir/x' } })
  })

  it('prefers the STRATA_S3_ pair over AWS_ variables', () => {
    const parsed = parseLocation('s3://host/b-1', {
      ...env,
      AWS_ACCESS_KEY_ID: 'other',
      AWS_SECRET_ACCESS_KEY: 'x',
    })
    expect(parsed).toMatchObject({ s3: { credentials: { accessKeyId: 'AKID' } } })
  })

  it.each([
    ['s3://user:secret@host/bucket', /credentials do not belong/],
    ['s3://host/', /invalid bucket/],
    ['s3://host/Bad_Bucket', /invalid bucket/],
    ['s3://host/bucket?colour=red', /unknown option 'colour'/],
    ['s3://host/bucket?style=odd', /style/],
    ['s3://host/bucket?partSize=1000', /partSize/],
    ['ftp://host/x', /unknown scheme/],
    ['s3://host/bucket/bad%zzescape', /percent-escape/],
    ['', /empty/],
  ])('rejects %s', (location, message) => {
    expect(() => parseLocation(location, env)).toThrow(message)
    expect(() => parseLocation(location, env)).toThrow(expect.objectContaining({ code: 'INVALID_LOCATION' }))
  })

  it('never puts a secret in its error messages', () => {
    expect(() => parseLocation('s3://user:hunter2@host/bucket', env)).toThrow(/^(?!.*hunter2)/)
  })

  it('fails clearly without credentials', () => {
    expect(() => parseLocation('s3://host/bucket', {})).toThrow(
      /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    )
  })
})
