// The S3 store stack through a fault-injecting proxy in front of a real radosgw: writes and reads
// complete through 500, 503 SlowDown, resets and slow answers; short bodies are never taken as data;
// permanent errors fail fast.
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import {
  createTestBucket,
  faultsInOrder,
  randomFaults,
  requireBinary,
  s3Env,
  startFaultProxy,
  useS3Server,
  type Fault,
} from '../testing/index.js'
import type { ObjectStore } from './object-store.js'
import { openStore, type OpenStoreOptions } from './open-store.js'
import { S3Store } from './s3-store.js'

requireBinary('radosgw')
const server = useS3Server()
const bucket = await createTestBucket(server)
const proxy = await startFaultProxy(server.endpoint)
afterAll(() => proxy.close())

const fast: OpenStoreOptions = {
  retry: { retries: 6, baseDelayMs: 20, maxDelayMs: 200 },
  logger: () => undefined,
}

/** A store through the proxy; each test gets its own prefix and resets the plan and counters. */
async function storeThroughProxy(prefix: string, options: OpenStoreOptions = fast): Promise<ObjectStore> {
  proxy.plan = () => undefined
  const host = new URL(proxy.url).host
  return openStore(`s3+http://${host}/${bucket}/${prefix}?conditional=yes`, s3Env(server), options)
}

function rawThroughProxy(prefix: string, idleTimeoutMs?: number): S3Store {
  const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }
  return new S3Store({
    endpoint: proxy.url,
    bucket,
    prefix,
    forcePathStyle: true,
    credentials,
    conditionalCreate: true,
    idleTimeoutMs,
  })
}

const ALL_FAULTS: Fault[] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503, code: 'SlowDown' },
  { kind: 'reset', when: 'before' },
  { kind: 'reset', when: 'after' },
  { kind: 'truncate', keep: 100 },
  { kind: 'delay', ms: 150 },
]

describe('S3 stack through injected faults', () => {
  it('completes writes, create-only writes, reads, ranges and listings through a storm of faults', async () => {
    const store = await storeThroughProxy('storm')
    const objects = Array.from({ length: 30 }, (_, i) => ({
      key: `c/${i}`,
      data: new Uint8Array(randomBytes(50_000 + i)),
    }))
    const start = proxy.requests.length
    proxy.plan = randomFaults(0.35, ALL_FAULTS, 7)
    await Promise.all(objects.map((o, i) => store.put(o.key, o.data, { ifNoneMatch: i % 2 === 0 })))
    for (const o of objects) expect(Buffer.from(await store.get(o.key)).equals(o.data), o.key).toBe(true)
    for (const o of objects) {
      expect(Buffer.from(await store.getRange(o.key, 1000, 2000)).equals(o.data.subarray(1000, 3000))).toBe(
        true,
      )
    }
    const listed: string[] = []
    for await (const info of store.list('c/')) listed.push(info.key)
    expect(listed).toEqual(objects.map((o) => o.key).sort())
    proxy.plan = () => undefined
    const counts = proxy.counts(start)
    for (const kind of ['status:500', 'status:503', 'reset:before', 'reset:after', 'truncate', 'delay']) {
      expect(counts[kind], kind).toBeGreaterThan(0)
    }
    expect(proxy.requests.length - start).toBeGreaterThan(90)
  })

  it('completes multipart uploads through faults on parts, and reads them back exactly', async () => {
    const mib = 1024 * 1024
    const s3 = { multipartThreshold: 6 * mib, partSize: 5 * mib }
    const store = await storeThroughProxy('multipart', { ...fast, s3 })
    const data = new Uint8Array(randomBytes(17 * mib))
    const start = proxy.requests.length
    proxy.plan = randomFaults(0.25, ALL_FAULTS, 3)
    await store.put('big', data)
    expect(Buffer.from(await store.get('big')).equals(data)).toBe(true)
    proxy.plan = () => undefined
    expect(Object.keys(proxy.counts(start)).length).toBeGreaterThan(0)
  })

  it('never stores a cut upload: the key stays absent, or keeps its previous bytes', async () => {
    const store = rawThroughProxy('cut')
    const data = new Uint8Array(randomBytes(1024 * 1024))
    proxy.plan = ({ method }) => (method === 'PUT' ? { kind: 'cut-upload', keep: 300_000 } : undefined)
    await expect(store.put('k', data)).rejects.toMatchObject({ code: 'TRANSIENT' })
    proxy.plan = () => undefined
    expect(await store.stat('k')).toBeUndefined()
    await store.put('k', data)
    proxy.plan = ({ method }) => (method === 'PUT' ? { kind: 'cut-upload', keep: 700_000 } : undefined)
    await expect(store.put('k', new Uint8Array(randomBytes(1024 * 1024)))).rejects.toMatchObject({
      code: 'TRANSIENT',
    })
    proxy.plan = () => undefined
    expect(Buffer.from(await store.get('k')).equals(data)).toBe(true)
  })

  it('never returns a truncated body as data: without retry it fails TRANSIENT', async () => {
    const store = rawThroughProxy('truncated')
    const data = new Uint8Array(randomBytes(300_000))
    await store.put('k', data)
    for (const keep of [0, 1, 150_000, 299_999]) {
      proxy.plan = ({ method }) => (method === 'GET' ? { kind: 'truncate', keep } : undefined)
      await expect(store.get('k'), `keep ${keep}`).rejects.toMatchObject({ code: 'TRANSIENT' })
      const cut = { kind: 'truncate', keep: Math.min(keep, 199_999) } as const
      proxy.plan = ({ method }) => (method === 'GET' ? cut : undefined)
      await expect(store.getRange('k', 10, 200_000), `keep ${keep}`).rejects.toMatchObject({
        code: 'TRANSIENT',
      })
    }
    proxy.plan = () => undefined
    expect(Buffer.from(await store.get('k')).equals(data)).toBe(true)
  })

  it('treats a create-only put whose answer was lost as done when the stored bytes are its own', async () => {
    const store = await storeThroughProxy('lost-answer')
    const data = new Uint8Array(randomBytes(10_000))
    const before = proxy.requests.length
    proxy.plan = faultsInOrder(...Array(before).fill(undefined), { kind: 'reset', when: 'after' })
    await store.put('lock', data, { ifNoneMatch: true })
    expect(proxy.counts(before)).toEqual({ 'reset:after': 1 })
    expect(Buffer.from(await store.get('lock')).equals(data)).toBe(true)
    // Someone else's object under the key is still an ALREADY_EXISTS.
    await expect(store.put('lock', new Uint8Array([1]), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
  })

  it('times out a slow answer as TRANSIENT and succeeds on retry', async () => {
    // Timings leave room for a loaded CI box: only the injected 4 s silence may trip the 1 s limit.
    const raw = rawThroughProxy('slow', 1000)
    await raw.put('k', new Uint8Array([7]))
    proxy.plan = ({ method }) => (method === 'GET' ? { kind: 'delay', ms: 4000 } : undefined)
    await expect(raw.get('k')).rejects.toMatchObject({ code: 'TRANSIENT' })
    const store = await storeThroughProxy('slow', { ...fast, s3: { idleTimeoutMs: 1000 } })
    const before = proxy.requests.length
    proxy.plan = ({ n }) => (n === before ? { kind: 'delay', ms: 4000 } : undefined)
    expect([...(await store.get('k'))]).toEqual([7])
    expect(proxy.requests.length - before).toBe(2)
  })

  it('abandons a slow call at once when its signal fires, without retrying it', async () => {
    const store = await storeThroughProxy('abort')
    await store.put('k', new Uint8Array([1]))
    const before = proxy.requests.length
    proxy.plan = () => ({ kind: 'delay', ms: 3000 })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('user stop')), 100)
    const started = performance.now()
    await expect(store.get('k', { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' })
    await expect(
      store.put('j', new Uint8Array([2]), { signal: AbortSignal.timeout(100) }),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    })
    expect(performance.now() - started).toBeLessThan(2500)
    expect(proxy.requests.length - before).toBe(2)
    proxy.plan = () => undefined
  })

  it('gives up on a server that keeps failing, after the configured retries, with TRANSIENT', async () => {
    const store = await storeThroughProxy('down', { ...fast, retry: { retries: 2, baseDelayMs: 10 } })
    const before = proxy.requests.length
    proxy.plan = () => ({ kind: 'status', status: 503, code: 'SlowDown' })
    await expect(store.put('k', new Uint8Array([1]))).rejects.toMatchObject({ code: 'TRANSIENT' })
    expect(proxy.requests.length - before).toBe(3)
    proxy.plan = () => undefined
  })

  it('fails fast on bad credentials: one request, ACCESS_DENIED', async () => {
    proxy.plan = () => undefined
    const host = new URL(proxy.url).host
    const env = { STRATA_S3_ACCESS_KEY_ID: 'BAD', STRATA_S3_SECRET_ACCESS_KEY: 'bad' }
    const store = await openStore(`s3+http://${host}/${bucket}/denied?conditional=yes`, env, fast)
    const before = proxy.requests.length
    await expect(store.put('k', new Uint8Array([1]))).rejects.toMatchObject({ code: 'ACCESS_DENIED' })
    expect(proxy.requests.length - before).toBe(1)
  })
})
