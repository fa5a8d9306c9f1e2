import { writeFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../testing/index.js'
import { TickLog } from './agent-ticks.js'

describe('the ticks an agent ran', () => {
  let scratch: Scratch
  beforeEach(async () => {
    scratch = await scratchDir('strata-ticks-')
  })
  afterEach(async () => {
    await scratch[Symbol.asyncDispose]()
  })

  it('claims a tick once, on disk: a second order for it (another run, another process) is told which ran it', () => {
    const file = scratch.path('agent-ticks.json')
    const ticks = new TickLog(file)
    expect(ticks.claim({ jobId: 'j1', at: 1000 }, 'r1')).toBeUndefined()
    expect(ticks.claim({ jobId: 'j1', at: 1000 }, 'r2')).toBe('r1')
    expect(ticks.claim({ jobId: 'j1', at: 2000 }, 'r3')).toBeUndefined()
    expect(ticks.claim({ jobId: 'j2', at: 1000 }, 'r4')).toBeUndefined()
    // The agent restarted: what it ran is still known.
    expect(new TickLog(file).claim({ jobId: 'j1', at: 1000 }, 'r5')).toBe('r1')
  })

  it('keeps the newest (its bound)', () => {
    const file = scratch.path('agent-ticks.json')
    const ticks = new TickLog(file, 10)
    for (let i = 0; i <= 10; i++) ticks.claim({ jobId: 'j', at: i }, `r${i}`)
    const again = new TickLog(file, 10)
    expect(again.claim({ jobId: 'j', at: 10 }, 'x')).toBe('r10')
    expect(again.claim({ jobId: 'j', at: 1 }, 'x')).toBe('r1')
    expect(again.claim({ jobId: 'j', at: 0 }, 'y')).toBeUndefined() // the oldest went
  })

  it('refuses a record it cannot read, with a typed error', () => {
    const file = scratch.path('agent-ticks.json')
    writeFileSync(file, '{not json')
    expect(() => new TickLog(file)).toThrow(expect.objectContaining({ code: 'AGENT_TICKS_UNREADABLE' }))
    writeFileSync(file, '{"a":1}')
    expect(() => new TickLog(file)).toThrow(expect.objectContaining({ code: 'AGENT_TICKS_UNREADABLE' }))
  })
})
