import { describe, expect, it } from 'vitest'
import { AbortedError } from '../shared/index.js'
import { FlakyStore } from './fixtures/flaky-store.js'
import { MemoryStore } from './memory-store.js'
import { RetryingStore, type RetryEvent } from './retrying-store.js'
import { StorageError } from './storage-error.js'

const transient = () => new StorageError('TRANSIENT', 'reset')
const failed = (permanent = false) =>
  new StorageError('STORE_FAILED', 'odd provider error', { details: { permanent } })
const options = { baseDelayMs: 1, maxDelayMs: 2 }

describe('RetryingStore', () => {
  it('retries transient read failures and corrupt answers, then returns the data', async () => {
    const inner = new FlakyStore()
    await inner.put('k', new Uint8Array([1, 2]))
    inner.fail('get', transient(), new StorageError('CORRUPT_RESPONSE', 'short'), undefined)
    const events: RetryEvent[] = []
    const store = new RetryingStore(inner, { ...options, onRetry: (e) => events.push(e) })
    expect([...(await store.get('k'))]).toEqual([1, 2])
    expect(events.map((e) => [e.op, e.key, e.attempt])).toEqual([
      ['get', 'k', 1],
      ['get', 'k', 2],
    ])
  })

  it('retries writes on unclassified store failures but never on permanent ones', async () => {
    const inner = new FlakyStore().fail('put', failed(), transient(), undefined)
    const store = new RetryingStore(inner, options)
    await store.put('k', new Uint8Array([1]))
    expect(inner.calls).toEqual(['put', 'put', 'put'])
    for (const error of [
      failed(true),
      new StorageError('ACCESS_DENIED', 'bad key'),
      new StorageError('INVALID_KEY', 'bad'),
      new AbortedError(),
    ]) {
      const once = new FlakyStore().fail('put', error)
      await expect(new RetryingStore(once, options).put('k', new Uint8Array([1]))).rejects.toBe(error)
      expect(once.calls).toEqual(['put'])
    }
  })

  it('does not retry unclassified failures of reads', async () => {
    const inner = new FlakyStore().fail('get', failed())
    await expect(new RetryingStore(inner, options).get('k')).rejects.toMatchObject({ code: 'STORE_FAILED' })
    expect(inner.calls).toEqual(['get'])
  })

  it('gives up after the configured retries with the last error', async () => {
    const inner = new FlakyStore().fail('stat', transient(), transient(), transient())
    const store = new RetryingStore(inner, { ...options, retries: 2 })
    await expect(store.stat('k')).rejects.toMatchObject({ code: 'TRANSIENT' })
    expect(inner.calls).toHaveLength(3)
  })

  it('accepts a create-only put whose lost answer left our own bytes, not someone else’s', async () => {
    const inner = new FlakyStore()
    let first = true
    inner.put = async (key, data, opts) => {
      if (first) {
        first = false
        return inner.putThenFail(key, data, transient())
      }
      return FlakyStore.prototype.put.call(inner, key, data, opts)
    }
    const store = new RetryingStore(inner, options)
    await store.put('lock', new Uint8Array([9]), { ifNoneMatch: true })
    expect([...(await inner.get('lock'))]).toEqual([9])
    // Without an earlier failure, ALREADY_EXISTS is the answer, even with identical bytes.
    await expect(store.put('lock', new Uint8Array([9]), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
  })

  it('resumes a listing after the last key returned when a page fails', async () => {
    const inner = new FlakyStore()
    for (const k of ['a', 'b', 'c', 'd']) await inner.put(k, new Uint8Array([1]))
    inner.fail('list', undefined, undefined, transient())
    const keys: string[] = []
    for await (const info of new RetryingStore(inner, options).list('')) keys.push(info.key)
    expect(keys).toEqual(['a', 'b', 'c', 'd'])
  })

  it('stops waiting for a retry when the signal fires', async () => {
    const inner = new FlakyStore().fail('get', transient(), transient())
    const store = new RetryingStore(inner, { baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1 })
    const controller = new AbortController()
    const pending = store.get('k', { signal: controller.signal })
    setTimeout(() => controller.abort(), 20)
    await expect(pending).rejects.toBeInstanceOf(AbortedError)
  })

  it('starts no attempt after the call’s notAfter instant, however its timers ran', async () => {
    const inner = new MemoryStore()
    await inner.put('k', new Uint8Array(1))
    const attempts: number[] = []
    const notAfter = Date.now() + 30
    inner.delete = async () => {
      attempts.push(Date.now())
      await new Promise((r) => setTimeout(r, 60)) // a slow first attempt, failing past the deadline
      throw transient()
    }
    const store = new RetryingStore(inner, options)
    await expect(store.delete('k', { notAfter })).rejects.toMatchObject({ code: 'DEADLINE_PASSED' })
    expect(attempts.length).toBe(1)
    // Already past: nothing is even tried.
    await expect(store.get('k', { notAfter: Date.now() - 1 })).rejects.toMatchObject({
      code: 'DEADLINE_PASSED',
      retryable: false,
    })
    expect(await inner.stat('k')).toBeDefined()
  })
})
