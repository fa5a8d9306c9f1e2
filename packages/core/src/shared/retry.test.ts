import { describe, expect, it } from 'vitest'
import { retry } from './retry.js'
import { StrataError } from './errors.js'

describe('retry', () => {
  it('retries retryable errors and returns the first success', async () => {
    let calls = 0
    const result = await retry(
      async () => {
        if (++calls < 3) throw new StrataError('FLAKY', 'flaky', { retryable: true })
        return 'ok'
      },
      { retries: 5, baseDelayMs: 1 },
    )
    expect(result).toBe('ok')
    expect(calls).toBe(3)
  })

  it('fails fast on a permanent error', async () => {
    let calls = 0
    await expect(
      retry(
        async () => {
          calls++
          throw new StrataError('DENIED', 'bad credentials')
        },
        { retries: 5, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ code: 'DENIED' })
    expect(calls).toBe(1)
  })

  it('gives up after the last retry with the last error', async () => {
    let calls = 0
    await expect(
      retry(
        async () => {
          throw new StrataError('FLAKY', `flaky ${++calls}`, { retryable: true })
        },
        { retries: 2, baseDelayMs: 1 },
      ),
    ).rejects.toMatchObject({ message: 'flaky 3' })
  })
})
