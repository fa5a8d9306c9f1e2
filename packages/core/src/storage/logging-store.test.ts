import { describe, expect, it } from 'vitest'
import { LoggingStore, type StoreLogEvent } from './logging-store.js'
import { MemoryStore } from './memory-store.js'

describe('LoggingStore', () => {
  it('logs each call with its size, and answers as debug, failures as warn', async () => {
    const events: StoreLogEvent[] = []
    const store = new LoggingStore(new MemoryStore('mem'), (e) => events.push(e))
    await store.put('a', new Uint8Array(3))
    await store.get('a')
    await expect(store.get('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(store.put('', new Uint8Array(1))).rejects.toMatchObject({ code: 'INVALID_KEY' })
    for await (const _ of store.list('')) void _
    expect(events.map((e) => [e.level, e.op, e.key, e.bytes ?? e.count, e.error?.code])).toEqual([
      ['debug', 'put', 'a', 3, undefined],
      ['debug', 'get', 'a', 3, undefined],
      ['debug', 'get', 'missing', undefined, 'NOT_FOUND'],
      ['warn', 'put', '', undefined, 'INVALID_KEY'],
      ['debug', 'list', '', 1, undefined],
    ])
    expect(events.at(-1)).toMatchObject({ count: 1, bytes: undefined })
    expect(events.every((e) => e.store === 'mem' && typeof e.ms === 'number')).toBe(true)
  })
})
