import { describe, expect, it } from 'vitest'
import { checkClock, parseXapiDateTime } from './clock-check.js'

describe('clock check', () => {
  /** A pool clock `skewMs` off, truncated to the second as XAPI's datetime is. */
  const poolClock = (skewMs: number) => async () => Math.floor((Date.now() + skewMs) / 1000) * 1000

  it('finds no warning for a clock in sync, and warns for one a minute off', async () => {
    const synced = await checkClock('https://pool', poolClock(0), AbortSignal.timeout(5000))
    expect(Math.abs(synced!.offsetMs)).toBeLessThan(1500)
    expect(synced!.warning).toBeUndefined()
    const off = await checkClock('https://pool', poolClock(60_000), AbortSignal.timeout(5000))
    expect(off!.offsetMs).toBeGreaterThan(58_000)
    expect(off!.warning).toMatch(/differs from pool .* by 6\d s/)
  })

  it('answers nothing for a pool that does not answer or answers nonsense', async () => {
    const refused = () => Promise.reject(new Error('ECONNREFUSED'))
    expect(await checkClock('https://pool', refused, AbortSignal.timeout(5000))).toBeUndefined()
    expect(await checkClock('https://pool', async () => undefined, AbortSignal.timeout(5000))).toBeUndefined()
  })

  it("reads XAPI's datetime format", () => {
    expect(parseXapiDateTime('20240501T10:11:12Z')).toBe(Date.UTC(2024, 4, 1, 10, 11, 12))
    expect(parseXapiDateTime('20240501T10:11:12')).toBe(Date.UTC(2024, 4, 1, 10, 11, 12))
    expect(parseXapiDateTime('Wed, 01 May 2024 10:11:12 GMT')).toBeUndefined()
  })
})
