import { describe, expect, it } from 'vitest'
import { RetryLaterError } from '../errors.js'
import { LoginLimits, SlidingWindow } from './login-limits.js'

const limits = () =>
  new LoginLimits({
    perAddress: { limit: 3, windowMs: 60_000 },
    perUser: { limit: 2, windowMs: 600_000 },
    maxKeys: 100,
  })

function refusal(fn: () => void): RetryLaterError {
  try {
    fn()
  } catch (error) {
    if (error instanceof RetryLaterError) return error
    throw error
  }
  throw new Error('not refused')
}

describe('LoginLimits', () => {
  it('refuses an address over its attempts with the seconds until the oldest leaves the window', () => {
    const l = limits()
    for (let i = 0; i < 3; i++) l.attempt('10.0.0.1', `user${i}`, 1000 + i * 1000)
    const error = refusal(() => l.attempt('10.0.0.1', 'other', 10_000))
    expect(error).toMatchObject({ status: 429, code: 'LOGIN_RATE_LIMITED', retryAfterSeconds: 51 })
    expect(error.message).toContain('from this address')
    l.attempt('10.0.0.2', 'other', 10_000) // another address is not concerned
    l.attempt('10.0.0.1', 'other', 61_001) // the first attempt left the window
  })

  it('refuses a user name after its failures, from any address, known or not, in any case', () => {
    const l = limits()
    l.failed('Admin', 0)
    l.failed('admin', 1000)
    const error = refusal(() => l.attempt('10.9.9.9', 'ADMIN', 2000))
    expect(error.message).toContain('for this user')
    expect(error.retryAfterSeconds).toBe(598)
    l.attempt('10.9.9.9', 'nobody', 2000)
    l.succeeded('admin')
    l.attempt('10.9.9.9', 'admin', 3000)
  })

  it('remembers a bounded number of keys, forgetting the least recently used', () => {
    const w = new SlidingWindow({ limit: 1, windowMs: 60_000 }, 2)
    w.add('a', 0)
    w.add('b', 0)
    w.add('a', 1) // a is used again: b is now the oldest
    w.add('c', 2)
    expect(w.waitMs('a', 3)).toBeGreaterThan(0)
    expect(w.waitMs('b', 3)).toBe(0)
    expect(w.waitMs('c', 3)).toBeGreaterThan(0)
  })
})
