// API tokens and event streams against a real server: tokens expire, note their last use, are listed
// without their secret and can be revoked; a new password revokes every token of its user and ends
// their sessions; event streams end with the session or token that opened them and are capped per user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { openSse, type SseStream } from '../testing/sse-reader.js'
import { startTestServer } from '../testing/test-server.js'

/** Whether the stream ends within `ms`. */
const endsWithin = (stream: SseStream, ms: number): Promise<boolean> =>
  Promise.race([stream.ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

describe('API tokens and event streams', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient

  const userClient = async (username: string): Promise<ApiClient> => {
    await admin.post('/api/users', { username, password: `${username}-password`, role: 'operator' })
    const client = new ApiClient(server.url)
    expect((await client.login(username, `${username}-password`)).status).toBe(200)
    return client
  }

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-tokens-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('shows a token once, then lists it with its expiry and last use, never its secret', async () => {
    const user = await userClient('lister')
    const before = Date.now()
    const created = await user.post('/api/me/tokens', { name: 'backup script', expiresInDays: 30 })
    expect(created.status).toBe(201)
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'backup script',
      token: expect.stringMatching(/^strata_[A-Za-z0-9_-]{43}$/),
      created: expect.any(Number),
      expires: expect.any(Number),
    })
    expect(created.body.expires - created.body.created).toBe(30 * 86_400_000)
    expect((await user.get('/api/me/tokens')).body).toEqual([
      {
        id: created.body.id,
        name: 'backup script',
        created: created.body.created,
        expires: created.body.expires,
      },
    ])
    expect((await new ApiClient(server.url, created.body.token).get('/api/me')).status).toBe(200)
    const [listed] = (await user.get('/api/me/tokens')).body
    expect(listed.lastUsed).toBeGreaterThanOrEqual(before)
    expect(JSON.stringify(listed)).not.toContain(created.body.token)
    const defaulted = (await user.post('/api/me/tokens', { name: 'default' })).body
    expect(defaulted.expires - defaulted.created).toBe(90 * 86_400_000)
  })

  it('refuses a revoked or expired token, and bounds what creating one takes', async () => {
    const user = await userClient('revoker')
    const a = (await user.post('/api/me/tokens', { name: 'a' })).body
    const b = (await user.post('/api/me/tokens', { name: 'b' })).body
    expect((await user.delete(`/api/me/tokens/${a.id}`)).status).toBe(204)
    expect((await new ApiClient(server.url, a.token).get('/api/me')).status).toBe(401)
    expect((await user.get('/api/me/tokens')).body.find((t: { id: string }) => t.id === a.id)).toMatchObject({
      revoked: expect.any(Number),
    })
    expect((await admin.delete(`/api/me/tokens/${b.id}`)).status).toBe(404) // not the admin's token
    await server.context.db.run('UPDATE tokens SET expires = ? WHERE id = ?', [Date.now() - 1, b.id])
    expect((await new ApiClient(server.url, b.token).get('/api/me')).status).toBe(401)
    for (const body of [
      { name: 'x', expiresInDays: 0 },
      { name: 'x', expiresInDays: 367 },
      { name: 'x', expiresInDays: 1.5 },
      { name: 'x'.repeat(101) },
    ])
      expect((await user.post('/api/me/tokens', body)).status, JSON.stringify(body)).toBe(400)
    for (let i = 0; i < 20; i++)
      expect((await user.post('/api/me/tokens', { name: `t${i}` })).status).toBe(201)
    const tooMany = await user.post('/api/me/tokens', { name: 'one more' })
    expect(tooMany.status).toBe(409)
    expect(tooMany.body.error.code).toBe('TOO_MANY_TOKENS')
  })

  it('revokes every token of a user whose password changes, by themselves or by an admin', async () => {
    const user = await userClient('changer')
    const token = (await user.post('/api/me/tokens', { name: 'ci' })).body.token as string
    const byToken = new ApiClient(server.url, token)
    expect((await byToken.get('/api/me')).status).toBe(200)
    const other = new ApiClient(server.url)
    await other.login('changer', 'changer-password') // another browser
    const changed = await user.post('/api/me/password', {
      current: 'changer-password',
      password: 'new-password-1',
    })
    expect(changed.status).toBe(204)
    expect((await byToken.get('/api/me')).status).toBe(401)
    expect((await byToken.get('/api/jobs')).status).toBe(401)
    expect((await other.get('/api/me')).status).toBe(401) // the other session ended
    expect((await user.get('/api/me')).status).toBe(200) // the caller got a fresh session
    expect((await user.get('/api/me/tokens')).body[0]).toMatchObject({ revoked: expect.any(Number) })

    const second = (await user.post('/api/me/tokens', { name: 'ci 2' })).body.token as string
    const { id } = (await user.get('/api/me')).body
    expect((await admin.patch(`/api/users/${id}`, { password: 'set-by-the-admin' })).status).toBe(200)
    expect((await new ApiClient(server.url, second).get('/api/me')).status).toBe(401)
  })

  it('ends an event stream at logout, at token revocation and at a password change', async () => {
    const user = await userClient('streamer')
    const bySession = await openSse(`${server.url}/api/events`, user.cookie!)
    expect(await endsWithin(bySession, 300)).toBe(false) // it stays open while the session lives
    expect((await user.post('/api/auth/logout')).status).toBe(204)
    expect(await endsWithin(bySession, 5000)).toBe(true)

    await user.login('streamer', 'streamer-password')
    const token = (await user.post('/api/me/tokens', { name: 'watcher' })).body
    const byToken = await openSse(`${server.url}/api/events`, { token: token.token })
    const another = await openSse(`${server.url}/api/events`, user.cookie!)
    await user.delete(`/api/me/tokens/${token.id}`)
    expect(await endsWithin(byToken, 5000)).toBe(true)
    expect(await endsWithin(another, 300)).toBe(false) // the session's stream is not concerned
    await user.post('/api/me/password', { current: 'streamer-password', password: 'streamer-password-2' })
    expect(await endsWithin(another, 5000)).toBe(true)
  })

  it('caps the event streams a user holds open at once', async () => {
    const user = await userClient('tabs')
    const streams = await Promise.all(
      Array.from({ length: 8 }, () => openSse(`${server.url}/api/events`, user.cookie!)),
    )
    const refused = await fetch(`${server.url}/api/events`, { headers: { cookie: user.cookie! } })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('15')
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_STREAMS')
    // Other users are not concerned, and a closed tab frees its place.
    const adminStream = await openSse(`${server.url}/api/events`, admin.cookie!)
    streams[0]!.close()
    await streams[0]!.ended
    let again: SseStream | undefined
    for (let i = 0; i < 50 && again === undefined; i++)
      again = await openSse(`${server.url}/api/events`, user.cookie!).catch(async () => {
        await new Promise((r) => setTimeout(r, 20))
        return undefined
      })
    expect(again).toBeDefined()
    for (const s of [...streams, again!, adminStream]) s.close()
  })
})
