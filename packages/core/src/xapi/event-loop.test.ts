import { afterEach, describe, expect, it, vi } from 'vitest'
import { XapiEventLoop } from './event-loop.js'
import type { XapiClient } from './xapi-client.js'

describe('XapiEventLoop', () => {
  afterEach(() => vi.restoreAllMocks())

  it('does not add abort listeners for every poll', async () => {
    let polls = 0
    const client = {
      call: async () => {
        polls++
        await new Promise((r) => setTimeout(r, 1))
        return { events: [], token: String(polls) }
      },
    } as unknown as XapiClient
    const add = vi.spyOn(EventTarget.prototype, 'addEventListener')
    const loop = new XapiEventLoop(client)
    loop.subscribe('vm')
    await loop.ready()
    while (polls < 30) await new Promise((r) => setTimeout(r, 5))
    await loop.stop()
    // Before: two listeners per poll on the loop's own signals, removed only when they fired.
    expect(add.mock.calls.filter(([type]) => type === 'abort').length).toBeLessThan(10)
  })
})
