import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkClock } from './clock-check.js'

describe('clock check', () => {
  let skewMs = 0
  const server = createServer((_req, res) => {
    res.setHeader('date', new Date(Date.now() + skewMs).toUTCString())
    res.end()
  })
  let url: string
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => server.close())

  it('finds no warning for a clock in sync, and warns for one a minute off', async () => {
    skewMs = 0
    const synced = await checkClock(url, AbortSignal.timeout(5000))
    expect(Math.abs(synced!.offsetMs)).toBeLessThan(1500)
    expect(synced!.warning).toBeUndefined()
    skewMs = 60_000
    const off = await checkClock(url, AbortSignal.timeout(5000))
    expect(off!.offsetMs).toBeGreaterThan(58_000)
    expect(off!.warning).toMatch(/differs from pool .* by 6\d s/)
  })

  it('answers nothing for a host that does not answer', async () => {
    expect(await checkClock('http://127.0.0.1:9', AbortSignal.timeout(5000))).toBeUndefined()
  })
})
