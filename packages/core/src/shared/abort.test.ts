import { describe, expect, it } from 'vitest'
import { anySignal, sleep } from './abort.js'
import { AbortedError } from './errors.js'

describe('anySignal', () => {
  it('fires with the reason of the first source that fires', () => {
    const a = new AbortController()
    const b = new AbortController()
    const combined = anySignal(a.signal, undefined, b.signal)
    expect(combined.aborted).toBe(false)
    b.abort(new Error('b'))
    expect(combined.aborted).toBe(true)
    expect((combined.reason as Error).message).toBe('b')
  })

  it('is aborted at once when a source already is', () => {
    const a = new AbortController()
    a.abort('gone')
    expect(anySignal(a.signal).reason).toBe('gone')
  })

  it('fires from a timeout signal that nothing else references, across a garbage collection', async () => {
    const gc = (globalThis as { gc?: () => void }).gc
    expect(gc, 'vitest runs tests with --expose-gc').toBeTypeOf('function')
    const combined = anySignal(AbortSignal.timeout(30))
    await new Promise((resolve) => setTimeout(resolve, 5))
    gc?.()
    await expect(sleep(1_000, combined)).rejects.toBeInstanceOf(AbortedError)
  })
})
