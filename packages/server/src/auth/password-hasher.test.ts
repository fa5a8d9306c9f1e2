import { describe, expect, it } from 'vitest'
import { hashPassword } from './passwords.js'
import { PasswordHasher } from './password-hasher.js'

describe('PasswordHasher', () => {
  it('verifies a hash, and answers false for a missing one after the same work', async () => {
    const hasher = new PasswordHasher()
    const stored = await hashPassword('right password')
    expect(await hasher.verify('right password', stored)).toBe(true)
    expect(await hasher.verify('wrong password', stored)).toBe(false)
    expect(await hasher.verify('right password', undefined)).toBe(false)
  })

  it('refuses at once past its queue, and a waiter that waited too long', async () => {
    const hasher = new PasswordHasher({ concurrency: 1, queue: 1, waitMs: 1 })
    const first = hasher.hash('a') // runs
    const second = hasher.hash('b') // waits longer than 1 ms: a hash takes tens of ms
    const started = performance.now()
    await expect(hasher.hash('c')).rejects.toMatchObject({
      status: 503,
      code: 'LOGIN_BUSY',
      retryAfterSeconds: 1,
    })
    expect(performance.now() - started).toBeLessThan(50) // refused without waiting
    await expect(second).rejects.toMatchObject({ code: 'LOGIN_BUSY' })
    await first
    expect(hasher.load).toEqual({ running: 0, waiting: 0 })
  })

  it("stops waiting when the caller's signal aborts", async () => {
    const hasher = new PasswordHasher({ concurrency: 1, queue: 4, waitMs: 10_000 })
    const first = hasher.hash('a')
    const gone = new AbortController()
    const waiting = hasher.hash('b', gone.signal)
    gone.abort(new Error('client gone'))
    await expect(waiting).rejects.toThrow('client gone')
    await first
    expect(hasher.load.waiting).toBe(0)
  })
})
