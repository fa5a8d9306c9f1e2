import { describe, expect, it } from 'vitest'
import { AbortedError } from '../shared/index.js'
import { s3Error } from './s3-errors.js'

function sdkError(name: string, status?: number, extra: object = {}) {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra })
}

describe('s3Error', () => {
  it.each([
    [sdkError('NoSuchKey', 404), 'NOT_FOUND'],
    [sdkError('NotFound', 404), 'NOT_FOUND'],
    [sdkError('Unknown', 404), 'NOT_FOUND'],
    [sdkError('NoSuchBucket', 404), 'STORE_FAILED'],
    [sdkError('PreconditionFailed', 412), 'ALREADY_EXISTS'],
    [sdkError('AccessDenied', 403), 'ACCESS_DENIED'],
    [sdkError('InvalidAccessKeyId', 403), 'ACCESS_DENIED'],
    [sdkError('SignatureDoesNotMatch', 403), 'ACCESS_DENIED'],
    [sdkError('Forbidden', 403), 'ACCESS_DENIED'],
    [sdkError('SlowDown', 503), 'TRANSIENT'],
    [sdkError('InternalError', 500), 'TRANSIENT'],
    [sdkError('Unknown', 502), 'TRANSIENT'],
    [sdkError('TooManyRequests', 429), 'TRANSIENT'],
    [sdkError('RequestTimeout', 400), 'TRANSIENT'],
    [sdkError('TimeoutError'), 'TRANSIENT'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'TRANSIENT'],
    [new Error('socket hang up'), 'TRANSIENT'],
    [sdkError('NotImplemented', 501), 'STORE_FAILED'],
    [sdkError('Weird', 400), 'STORE_FAILED'],
  ])('maps %s to %s', (error, code) => {
    expect(s3Error(error, 'op').code).toBe(code)
  })

  it('marks clearly permanent failures so that the write path does not retry them', () => {
    expect(s3Error(sdkError('NoSuchBucket', 404), 'op').details.permanent).toBe(true)
    expect(s3Error(sdkError('NotImplemented', 501), 'op').details.permanent).toBe(true)
    expect(s3Error(sdkError('Weird', 400), 'op').details.permanent).toBe(false)
  })

  it('turns any failure under a fired signal into AbortedError', () => {
    expect(s3Error(sdkError('AbortError'), 'op', AbortSignal.abort())).toBeInstanceOf(AbortedError)
  })

  it('names the operation and the status in the message', () => {
    expect(s3Error(sdkError('SlowDown', 503), "cannot put 'k' to s3:b/").message).toBe(
      "cannot put 'k' to s3:b/: 503 SlowDown",
    )
  })
})
