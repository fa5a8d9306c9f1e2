// Cookies and cross-site requests against a real server: a change made with the session cookie needs
// the X-Strata-Request header (a Bearer token does not), and the cookie is Secure behind a TLS proxy
// only when the configuration trusts that proxy's X-Forwarded-Proto.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

describe('session cookies', () => {
  let scratch: Scratch
  let server: RunningServer
  let proxied: RunningServer

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-csrf-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    proxied = await startTestServer(scratch, {
      dataDir: scratch.path('proxied'),
      adminPassword: 'admin-password',
      trustProxy: ['127.0.0.1'],
    })
  })
  afterAll(async () => {
    await server?.close()
    await proxied?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses a change made with the cookie but without the X-Strata-Request header', async () => {
    const admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
    admin.extraHeaders = { 'x-strata-request': '' }
    const user = { username: 'forged', password: 'forged-password', role: 'admin' }
    for (const [method, path, body] of [
      ['POST', '/api/users', user],
      ['PATCH', '/api/settings', { syslog: 'udp://127.0.0.1:514' }],
      ['PATCH', '/api/settings', { restoreTag: 'forged' }],
      ['POST', '/api/auth/logout', {}],
      ['DELETE', '/api/me/tokens/t-1', undefined],
      ['POST', '/api/pools/probe', { url: 'https://127.0.0.1:9' }],
      ['PATCH', '/api/pools/pool-1', { fingerprint: 'AB:'.repeat(31) + 'AB' }],
    ] as const) {
      const refused = await admin.request(method, path, body)
      expect(refused.status, `${method} ${path}`).toBe(403)
      expect(refused.body.error).toMatchObject({ code: 'CSRF_HEADER_MISSING' })
      expect(refused.body.error.message).toContain('X-Strata-Request: 1')
    }
    expect((await admin.get('/api/me')).status).toBe(200) // reads need no header; the logout did not happen
    expect((await admin.get('/api/settings')).body).toEqual({})
    admin.extraHeaders = {}
    expect((await admin.post('/api/users', user)).status).toBe(201)
    // A Bearer token is not sent by browsers on their own: no header needed.
    const { token } = (await admin.post('/api/me/tokens', { name: 'script' })).body
    const script = new ApiClient(server.url, token)
    script.extraHeaders = { 'x-strata-request': '' }
    expect((await script.patch('/api/settings', { syslog: null })).status).toBe(200)
  })

  it('marks the cookie Secure only behind a trusted TLS proxy', async () => {
    const direct = new ApiClient(server.url)
    direct.extraHeaders = { 'x-forwarded-proto': 'https' } // believed from no one: no proxy configured
    const plain = await direct.login('admin', 'admin-password')
    expect(plain.headers.get('set-cookie')).not.toMatch(/;\s*Secure/i)
    const behind = new ApiClient(proxied.url)
    behind.extraHeaders = { 'x-forwarded-proto': 'https' }
    const secure = await behind.login('admin', 'admin-password')
    expect(secure.headers.get('set-cookie')).toMatch(/;\s*Secure/i)
    const clear = await new ApiClient(proxied.url).login('admin', 'admin-password')
    expect(clear.headers.get('set-cookie')).not.toMatch(/;\s*Secure/i)
  })
})
