// The NOTIFY payloads between instances: small events inline, large ones by reference under the limit,
// and what is not an event (malformed, unknown, oversized) refused with CLUSTER_BAD_EVENT.
import { describe, expect, it } from 'vitest'
import {
  MAX_EVENT_BYTES,
  MAX_NOTIFY_BYTES,
  encodeEvent,
  inlineNotice,
  parseNotice,
  parseStoredEvent,
  refNotice,
} from './cluster-events.js'
import type { ClusterEvent } from './coordinator.js'

const task = (message: string): ClusterEvent => ({
  type: 'task',
  runId: 'r1',
  event: { type: 'info', id: '0', message, time: 1 } as never,
})

describe('cluster events', () => {
  it('sends a small event inline and reads it back', () => {
    const payload = inlineNotice('a', task('hello'))!
    expect(parseNotice(payload)).toEqual({ from: 'a', event: task('hello') })
  })

  it('sends an event over the NOTIFY limit by reference, counting bytes not characters', () => {
    // 3000 three-byte characters: under the limit in characters, over it in bytes.
    expect(inlineNotice('a', task('€'.repeat(3000)))).toBeUndefined()
    expect(Buffer.byteLength(inlineNotice('a', task('x'.repeat(MAX_NOTIFY_BYTES - 200)))!)).toBeLessThan(8000)
    expect(parseNotice(refNotice('a', '42'))).toEqual({ from: 'a', ref: '42' })
    expect(parseStoredEvent(encodeEvent(task('€'.repeat(3000))))).toEqual(task('€'.repeat(3000)))
  })

  it('refuses what is not an event', () => {
    const bad = [
      'not json',
      '[]',
      JSON.stringify({ v: 2, from: 'a', event: task('x') }),
      JSON.stringify({ v: 1, event: task('x') }),
      JSON.stringify({ v: 1, from: 'a', event: { type: 'drop-tables' } }),
      JSON.stringify({ v: 1, from: 'a', event: { type: 'task', runId: 1, event: {} } }),
      JSON.stringify({ v: 1, from: 'a', event: { type: 'run', row: {} } }),
      JSON.stringify({ v: 1, from: 'a', ref: '1; DROP TABLE x' }),
      JSON.stringify({ v: 1, from: 'a'.repeat(201), event: task('x') }),
    ]
    for (const payload of bad)
      expect(() => parseNotice(payload), payload).toThrow(
        expect.objectContaining({ code: 'CLUSTER_BAD_EVENT' }),
      )
    expect(() => parseStoredEvent(JSON.stringify(task('x'.repeat(MAX_EVENT_BYTES))))).toThrow(
      expect.objectContaining({ code: 'CLUSTER_BAD_EVENT', retryable: false }),
    )
  })
})
