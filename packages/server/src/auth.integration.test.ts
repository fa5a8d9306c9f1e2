// The server's access rules against a real server (no pool needed): login and sessions, every route
// refusing anonymous calls, roles, tokens, TOTP, and malformed requests refused with no change of state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { registeredRoutes } from './auth/guard.js'
import { totpCode } from './auth/totp.js'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

describe('server access', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-auth-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    expect((await admin.login('admin', 'admin-password')).status).toBe(200)
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('logs in with an HttpOnly SameSite=Strict cookie and refuses a wrong password', async () => {
    const client = new ApiClient(server.url)
    const ok = await client.login('admin', 'admin-password')
    expect(ok.body).toEqual({
      user: { id: expect.any(String), username: 'admin', role: 'admin', totp: false },
    })
    expect(ok.headers.get('set-cookie')).toMatch(/^strata_session=[^;]+;.*HttpOnly.*SameSite=Strict/i)
    expect((await client.get('/api/me')).body).toMatchObject({ username: 'admin' })
    const wrong = await new ApiClient(server.url).login('admin', 'nope')
    expect(wrong.status).toBe(401)
    expect(wrong.body.error.code).toBe('AUTH_FAILED')
    const unknown = await new ApiClient(server.url).login('nobody', 'nope')
    expect(unknown.body.error).toEqual(wrong.body.error)
    expect((await client.post('/api/auth/logout')).status).toBe(204)
    expect((await client.get('/api/me')).status).toBe(401)
  })

  it('refuses every API route without a session or token', async () => {
    // The OpenAPI document is private now: the router's own list of routes (a superset) is walked.
    const anonymous = new ApiClient(server.url)
    let checked = 0
    for (const route of registeredRoutes(server.app)) {
      if (route.public || route.method === 'HEAD') continue
      const concrete = route.url.replace(/:[A-Za-z]+/g, 'x1')
      const response = await anonymous.request(
        route.method,
        concrete,
        route.method === 'GET' ? undefined : {},
      )
      expect(response.status, `${route.method} ${route.url}`).toBe(401)
      expect(response.body.error.code).toBe('UNAUTHENTICATED')
      checked++
    }
    expect(checked).toBeGreaterThan(30)
    expect((await anonymous.get('/api/events')).status).toBe(401)
    expect((await anonymous.get('/api/openapi.json')).status).toBe(401)
  })

  it('lets a read-only user read and change nothing; an operator cannot change configuration', async () => {
    expect(
      (await admin.post('/api/users', { username: 'ro', password: 'ro-password', role: 'read-only' })).status,
    ).toBe(201)
    expect(
      (await admin.post('/api/users', { username: 'op', password: 'op-password', role: 'operator' })).status,
    ).toBe(201)
    const ro = new ApiClient(server.url)
    await ro.login('ro', 'ro-password')
    expect((await ro.get('/api/pools')).status).toBe(200)
    const attempts = [
      ro.post('/api/pools', { name: 'p', url: 'http://127.0.0.1:1', password: 'x' }),
      ro.post('/api/repositories', { name: 'r', location: scratch.path('r'), init: true }),
      ro.post('/api/jobs', { name: 'j', vms: { uuids: ['a'] }, repositories: ['x'] }),
      ro.post('/api/jobs/x/run'),
      ro.post('/api/users', { username: 'x', password: 'xxxxxxxx', role: 'admin' }),
      ro.patch('/api/settings', { syslog: 'udp://127.0.0.1:514' }),
      ro.get('/api/users'),
    ]
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403)
      expect(response.body.error.code).toBe('FORBIDDEN')
    }
    const op = new ApiClient(server.url)
    await op.login('op', 'op-password')
    expect(
      (await op.post('/api/pools', { name: 'p', url: 'http://127.0.0.1:1', password: 'x' })).status,
    ).toBe(403)
    expect((await op.post('/api/jobs/x/run')).status).toBe(404) // allowed, but there is no such job
    expect((await op.request('POST', '/api/jobs/x/run')).status).toBe(404) // no body at all is fine too
    expect((await admin.get('/api/pools')).body).toEqual([])
    expect((await admin.get('/api/settings')).body).toEqual({})
  })

  it('answers malformed requests with 400 INVALID_REQUEST naming the field, changing nothing', async () => {
    const cases: [string, string, unknown][] = [
      ['POST', '/api/pools', { name: 'p', url: 'not a url', password: 'x' }],
      ['POST', '/api/pools', { name: 123, url: 'http://h', password: 'x' }],
      ['POST', '/api/pools', { name: 'p', url: 'http://h', password: 'x', extra: 1 }],
      ['POST', '/api/pools', '{"name": '],
      ['POST', '/api/repositories', { name: 'r' }],
      ['POST', '/api/jobs', { name: 'j', vms: { uuids: [] }, repositories: ['r'] }],
      ['POST', '/api/jobs', { name: 'j', vms: { uuids: ['a'], smart: {} }, repositories: ['r'] }],
      ['POST', '/api/users', { username: 'x y', password: 'short', role: 'god' }],
      ['PATCH', '/api/settings', { syslog: 'http://example.com' }],
      ['GET', '/api/runs?limit=abc', undefined],
      ['POST', '/api/restores', { repositoryId: 'r', kind: 'vm' }],
    ]
    for (const [method, path, body] of cases) {
      const response = await admin.request(method, path, body)
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400)
      expect(response.body.error.code).toBe('INVALID_REQUEST')
      expect(response.body.error.message.length).toBeGreaterThan(5)
    }
    const named = await admin.post('/api/pools', { name: 'p', url: 'http://h', password: 'x', extra: 1 })
    expect(named.body.error.message).toContain('extra')
    expect((await admin.get('/api/pools')).body).toEqual([])
    expect((await admin.get('/api/repositories')).body).toEqual([])
    expect((await admin.get('/api/jobs')).body).toEqual([])
    expect((await admin.get('/api/settings')).body).toEqual({})
    expect((await admin.get('/api/users')).body.map((u: { username: string }) => u.username)).toEqual([
      'admin',
      'op',
      'ro',
    ])
  })

  it('authenticates API tokens, hashed at rest', async () => {
    const created = await admin.post('/api/me/tokens', { name: 'ci' })
    expect(created.status).toBe(201)
    const token = created.body.token as string
    const byToken = new ApiClient(server.url, token)
    expect((await byToken.get('/api/me')).body).toMatchObject({ username: 'admin' })
    const stored = (await server.context.db.all('SELECT token_hash FROM tokens')) as {
      token_hash: string
    }[]
    expect(stored.map((r) => r.token_hash)).not.toContain(token)
    expect((await new ApiClient(server.url, `${token}x`).get('/api/me')).status).toBe(401)
    await admin.delete(`/api/me/tokens/${created.body.id}`)
    expect((await byToken.get('/api/me')).status).toBe(401)
  })

  it('asks for a TOTP code once enrolled', async () => {
    await admin.post('/api/users', { username: 'totp', password: 'totp-password', role: 'operator' })
    const user = new ApiClient(server.url)
    await user.login('totp', 'totp-password')
    const { secret } = (await user.post('/api/me/totp')).body as { secret: string; uri: string }
    expect(
      (
        await user.post('/api/me/totp/confirm', {
          code: '000000' === totpCode(secret, Date.now()) ? '111111' : '000000',
        })
      ).status,
    ).toBe(400)
    expect((await user.post('/api/me/totp/confirm', { code: totpCode(secret, Date.now()) })).status).toBe(204)
    expect((await new ApiClient(server.url).login('totp', 'totp-password')).status).toBe(401)
    // The confirmation used up the current step's code: the next step's (within the ±1 window) logs in.
    const nextAt = Date.now() + 30_000
    const next = totpCode(secret, nextAt)
    const withCode = await new ApiClient(server.url).login('totp', 'totp-password', next)
    expect(withCode.status).toBe(200)
    expect(withCode.body.user.totp).toBe(true)
    // A code is accepted once: replayed, even at once and with the right password, it is refused.
    const replayed = await new ApiClient(server.url).login('totp', 'totp-password', next)
    expect(replayed.status).toBe(401)
    expect(replayed.body.error.code).toBe('AUTH_FAILED')
    // So is an older step's code, still inside the window.
    const older = await new ApiClient(server.url).login('totp', 'totp-password', totpCode(secret, Date.now()))
    expect(older.status).toBe(401)
    // The step used is remembered in the database: a restarted server refuses the replay too.
    const row = await server.context.db.get("SELECT totp_last_step FROM users WHERE username = 'totp'")
    expect(row).toEqual({ totp_last_step: Math.floor(nextAt / 30_000) })
  })

  it('never returns nor stores a pool password in clear', async () => {
    const created = await admin.post('/api/pools', {
      name: 'offline',
      url: 'http://127.0.0.1:9',
      insecureHttp: true,
      password: 'pool-secret',
    })
    expect(created.status).toBe(201)
    expect(JSON.stringify(created.body)).not.toContain('pool-secret')
    expect(created.body).toMatchObject({ name: 'offline', username: 'root', connected: false })
    const rows = JSON.stringify(await server.context.db.all('SELECT * FROM pools'))
    expect(rows).not.toContain('pool-secret')
    expect((await admin.delete(`/api/pools/${created.body.id}`)).status).toBe(204)
  })
})
