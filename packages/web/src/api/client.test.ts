import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api, onUnauthenticated } from './client'

function answer(status: number, body?: unknown) {
  const fetch = vi.fn(async () =>
    body === undefined ? new Response(null, { status }) : new Response(JSON.stringify(body), { status }),
  )
  vi.stubGlobal('fetch', fetch)
  return fetch
}

describe('API client', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('sends JSON to relative /api paths with the session cookie and reads JSON back', async () => {
    const fetch = answer(201, { id: 'p1', name: 'lab' })
    expect(await api.createPool({ name: 'lab', url: 'http://h', password: 'pw' })).toEqual({
      id: 'p1',
      name: 'lab',
    })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/pools')
    expect(init).toMatchObject({ method: 'POST', credentials: 'same-origin' })
    expect(init.headers).toMatchObject({ 'x-strata-request': '1', 'content-type': 'application/json' })
    expect(JSON.parse(String(init.body))).toEqual({ name: 'lab', url: 'http://h', password: 'pw' })
    answer(204)
    expect(await api.deletePool('p 1')).toBeUndefined()
  })

  it('sends X-Strata-Request with the pool trust changes (accepting a certificate, allowing plain HTTP)', async () => {
    const fetch = answer(200, { id: 'p1' })
    await api.updatePool('p1', { fingerprint: 'AB:CD' })
    await api.updatePool('p1', { insecureHttp: true })
    for (const call of fetch.mock.calls as unknown as [string, RequestInit][]) {
      expect(call[0]).toBe('/api/pools/p1')
      expect(call[1]).toMatchObject({ method: 'PATCH', headers: { 'x-strata-request': '1' } })
    }
    expect(fetch).toHaveBeenCalledTimes(2)
  })

  it("turns the server's error body into an ApiError with its code", async () => {
    answer(400, { error: { code: 'INVALID_REQUEST', message: 'body/name must be string' } })
    const error = await api.createJob({} as never).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST', message: 'body/name must be string' })
    answer(502)
    expect(await api.pools().catch((e: unknown) => e)).toMatchObject({ status: 502, code: 'HTTP_502' })
  })

  it('reports a lost session, but not a refused login', async () => {
    const lost = vi.fn()
    const stop = onUnauthenticated(lost)
    answer(401, { error: { code: 'AUTH_FAILED', message: 'wrong username or password' } })
    await expect(api.login('admin', 'nope')).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    expect(lost).not.toHaveBeenCalled()
    answer(401, { error: { code: 'UNAUTHENTICATED', message: 'log in first' } })
    await expect(api.jobs()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(lost).toHaveBeenCalledTimes(1)
    stop()
  })

  it('builds query strings and download URLs with escaped ids', () => {
    const fetch = answer(200, [])
    void api.runs({ job: 'j/1', state: '', since: '2026-12-07', limit: 5 })
    expect((fetch.mock.calls[0] as unknown[])[0]).toBe('/api/runs?job=j%2F1&since=2026-12-07&limit=5')
    void api.deletePoint('r1', 'vm/p 2')
    expect((fetch.mock.calls[1] as unknown[])[0]).toBe('/api/repositories/r1/points/vm%2Fp%202')
    expect((fetch.mock.calls[1] as { method: string }[])[1]!.method).toBe('DELETE')
    void api.protectPoint('r1', 'p3', true)
    expect((fetch.mock.calls[2] as unknown[])[0]).toBe('/api/repositories/r1/points/p3/protection')
    expect((fetch.mock.calls[2] as { method: string }[])[1]!.method).toBe('POST')
    expect(api.diskUrl('r1', 'p/2', 0)).toBe('/api/repositories/r1/points/p%2F2/disks/0.vhd')
  })
})
