import { afterEach, describe, expect, it, vi } from 'vitest'
import { XapiEventLoop } from './event-loop.js'
import type { XapiClient } from './xapi-client.js'

describe('XapiEventLoop', () => {
  afterEach(() => vi.restoreAllMocks())

  it('does not make a new combined signal for every poll', async () => {
    let polls = 0
    const client = {
      call: async () => {
        polls++
        await new Promise((r) => setTimeout(r, 1))
        return { events: [], token: String(polls) }
      },
    } as unknown as XapiClient
    const any = vi.spyOn(AbortSignal, 'any')
    const loop = new XapiEventLoop(client)
    loop.subscribe('vm')
    await loop.ready()
    while (polls < 30) await new Promise((r) => setTimeout(r, 5))
    await loop.stop()
    expect(any.mock.calls.length).toBeLessThanOrEqual(2)
  })
})
