// The S3 store against a real S3 server (Ceph radosgw, started once per run by vitest.global-setup.ts).
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3'
import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createTestBucket, requireBinary, s3Env, s3Location, useS3Server } from '../testing/index.js'
import { describeObjectStoreConformance } from './conformance.js'
import { checkAllWhole, killWriterRepeatedly } from './fixtures/crash-writer.js'
import { openStore } from './open-store.js'
import { S3Store, type S3StoreOptions } from './s3-store.js'

requireBinary('radosgw')
const server = useS3Server()
const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }
const bucket = await createTestBucket(server)

function rawStore(prefix: string, options: Partial<S3StoreOptions> = {}): S3Store {
  return new S3Store({
    endpoint: server.endpoint,
    bucket,
    prefix,
    forcePathStyle: true,
    credentials,
    conditionalCreate: true,
    // Small thresholds so that the conformance suite exercises multipart uploads and list pages.
    multipartThreshold: 6 * 1024 * 1024,
    partSize: 5 * 1024 * 1024,
    listPageSize: 7,
    ...options,
  })
}

describeObjectStoreConformance('S3 (radosgw)', async () => ({ store: rawStore('raw') }), {
  largeSize: 13 * 1024 * 1024,
})

describeObjectStoreConformance('S3 (radosgw) through openStore, probed, with every wrapper', async () => ({
  store: await openStore(s3Location(server, bucket, 'stacked'), s3Env(server), {
    concurrency: 8,
    logger: () => undefined,
    s3: { multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024, listPageSize: 7 },
  }),
}))

describe('S3Store on radosgw', () => {
  it('finds by probing that radosgw enforces create-only puts', async () => {
    const store = rawStore('probe', { conditionalCreate: false })
    expect(store.capabilities.conditionalCreate).toBe(false)
    expect(await store.probeConditionalCreate()).toBe(true)
    expect(store.capabilities.conditionalCreate).toBe(true)
    const left: string[] = []
    for await (const info of store.list('')) left.push(info.key)
    expect(left).toEqual([])
    await store.close()
  })

  it('sends a payload hash computed elsewhere as it is: the server checks it against the body', async () => {
    const store = rawStore('sha256')
    const data = randomBytes(100_000)
    await store.put('right', data, { sha256: createHash('sha256').update(data).digest('hex') })
    expect(Buffer.from(await store.get('right')).equals(data)).toBe(true)
    // A wrong one is refused, never stored: so it is what was sent and checked, not recomputed.
    const other = createHash('sha256').update('other').digest('hex')
    await expect(store.put('bad-sha', data, { sha256: other })).rejects.toThrow()
    expect(await store.stat('bad-sha')).toBeUndefined()
    await store.close()
  })

  it('still refuses to overwrite with create-only puts where the server is not trusted to (HEAD first)', async () => {
    const store = rawStore('untrusted', { conditionalCreate: false })
    await store.put('k', new Uint8Array([1]), { ifNoneMatch: true })
    await expect(store.put('k', new Uint8Array([2]), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
    expect([...(await store.get('k'))]).toEqual([1])
  })

  it('keeps every object whole when the writer is SIGKILLed mid-put, many times', async () => {
    const location = s3Location(server, bucket, 'crash')
    await killWriterRepeatedly(location, 6, { ...process.env, ...s3Env(server) })
    const { checked, bad } = await checkAllWhole(rawStore('crash'))
    expect(bad).toEqual([])
    expect(checked).toBeGreaterThanOrEqual(6)
  }, 60_000)

  it('aborts only old unfinished multipart uploads under its prefix', async () => {
    const store = rawStore('unfinished')
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials,
    })
    const create = (Key: string) => client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }))
    await create('unfinished/a')
    await create('unfinished/b')
    await create('elsewhere/c')
    expect(await store.removeIncomplete(3_600_000)).toBe(0)
    const listed: string[] = []
    for await (const leftover of store.listIncomplete(0)) listed.push(leftover.name.split(' ')[0]!)
    expect(listed.sort()).toEqual(['a', 'b'])
    expect(await store.removeIncomplete(0)).toBe(2)
    const left = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))
    expect((left.Uploads ?? []).map((u) => u.Key)).toEqual(['elsewhere/c'])
    client.destroy()
  })

  it('keeps prefixes apart: a store sees only its own keys', async () => {
    const a = rawStore('iso/a')
    const b = rawStore('iso/ab')
    await a.put('k', new Uint8Array([1]))
    await b.put('k', new Uint8Array([2]))
    const keys: string[] = []
    for await (const info of a.list('')) keys.push(info.key)
    expect(keys).toEqual(['k'])
    expect([...(await b.get('k'))]).toEqual([2])
  })

  it('fails fast with ACCESS_DENIED on bad credentials, through retries', async () => {
    const env = { STRATA_S3_ACCESS_KEY_ID: 'NOPE', STRATA_S3_SECRET_ACCESS_KEY: 'wrong' }
    const events: string[] = []
    const store = await openStore(s3Location(server, bucket, 'denied'), env, {
      logger: (e) => events.push(`${e.op}:${e.attempt ?? '-'}:${e.error?.code ?? 'ok'}`),
    })
    const started = performance.now()
    await expect(store.put('k', new Uint8Array([1]))).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    await expect(store.get('k')).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    expect(performance.now() - started).toBeLessThan(2000)
    // No retry was logged (a retry line carries its attempt number).
    expect(events.filter((e) => !e.includes(':-:'))).toEqual([])
    expect(JSON.stringify(events)).not.toContain('wrong')
  })

  it('refuses to open a bucket that does not exist, naming it', async () => {
    const location = s3Location(server, 'no-such-bucket-here')
    await expect(openStore(location, s3Env(server), { retry: { retries: 0 } })).rejects.toThrow(
      /NoSuchBucket/,
    )
  })

  it('leaves nothing behind when a multipart put is aborted', async () => {
    const store = rawStore('aborted')
    const controller = new AbortController()
    const put = store.put('big', new Uint8Array(40 * 1024 * 1024), { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('user stop')), 50)
    await expect(put).rejects.toMatchObject({ code: 'ABORTED' })
    expect(await store.stat('big')).toBeUndefined()
  })
})
