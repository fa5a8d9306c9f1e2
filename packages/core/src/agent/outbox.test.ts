import { afterEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../testing/index.js'
import { Outbox } from './outbox.js'
import type { RunMessage } from './protocol.js'

const progress = (done: number): RunMessage => ({
  type: 'event',
  runId: 'r-1',
  event: { type: 'progress', id: '0.1', time: done, done },
})
const end: RunMessage = {
  type: 'event',
  runId: 'r-1',
  event: { type: 'end', id: '0', status: 'success', time: 9 },
}

describe('the agent outbox', () => {
  let scratch: Scratch | undefined
  afterEach(async () => scratch?.[Symbol.asyncDispose]())

  it('numbers messages, keeps them on disk until acknowledged and gives back what follows the ack', async () => {
    scratch = await scratchDir('strata-outbox-')
    const outbox = new Outbox(scratch.path('outbox'))
    for (let i = 1; i <= 2500; i++) expect(outbox.push(progress(i))?.seq).toBe(i)
    expect(outbox.files()).toHaveLength(3) // segments of 1000
    outbox.ack(1500)
    expect(outbox.files()).toHaveLength(2)
    const pending = [...outbox.pending()]
    expect(pending.map((p) => p.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => 1501 + i))
    expect(pending[0]!.m).toEqual(progress(1501))
    outbox.ack(2500)
    expect(outbox.files()).toEqual([])
    expect([...outbox.pending()]).toEqual([])
    // A new process of the agent starts afresh.
    outbox.push(end)
    expect(new Outbox(scratch.path('outbox')).files()).toEqual([])
  })

  it('stays bounded: past its limit it leaves progress out, never an end', async () => {
    scratch = await scratchDir('strata-outbox-')
    const outbox = new Outbox(scratch.path('outbox'), 10_000)
    let kept = 0
    for (let i = 1; i <= 1000; i++) if (outbox.push(progress(i)) !== undefined) kept++
    expect(kept).toBeLessThan(200)
    expect(outbox.push(end)).toMatchObject({ seq: kept + 1 })
    expect([...outbox.pending()].at(-1)!.m).toEqual(end)
  })
})
