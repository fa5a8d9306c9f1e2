// Logins against a real server behind a (simulated) trusted proxy, so that each test picks its client
// addresses with X-Forwarded-For: limits per address and per user name (429 + Retry-After), the same
// answer and cost for unknown users and wrong passwords, failed logins in the log without the password,
// and a login flood that neither runs more than two hashes at once nor holds libuv's thread pool.
import { pbkdf2 } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient, type ApiResponse } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

describe('login', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient
  const log: string[] = []
  let addresses = 0

  /** A client from an address no other test used. */
  const from = (address = `10.0.${Math.floor(++addresses / 250)}.${addresses % 250}`): ApiClient => {
    const client = new ApiClient(server.url)
    client.extraHeaders = { 'x-forwarded-for': address }
    return client
  }

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-login-')
    server = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      trustProxy: true,
      echo: (line) => log.push(line),
    })
    admin = from()
    expect((await admin.login('admin', 'admin-password')).status).toBe(200)
    for (const username of ['victim', 'logged', 'timing'])
      await admin.post('/api/users', { username, password: `${username}-password`, role: 'operator' })
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('limits the attempts of one address, whatever the user names (429 with Retry-After)', async () => {
    const attacker = from('10.99.0.1')
    for (let i = 0; i < 20; i++) expect((await attacker.login(`guess${i}`, 'x')).status).toBe(401)
    const refused = await attacker.login('admin', 'admin-password') // even the right password
    expect(refused.status).toBe(429)
    expect(refused.body.error.code).toBe('LOGIN_RATE_LIMITED')
    const retryAfter = Number(refused.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect((await from().login('admin', 'admin-password')).status).toBe(200) // others are not concerned
  })

  it('limits the failures of one user name from any address, the same for unknown names', async () => {
    for (const username of ['victim', 'ghost']) {
      for (let i = 0; i < 10; i++) expect((await from().login(username, `wrong-${i}`)).status).toBe(401)
      const refused = await from().login(username, `${username}-password`)
      expect(refused.status, username).toBe(429)
      expect(refused.body.error.code).toBe('LOGIN_RATE_LIMITED')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60)
    }
    expect((await from().login('admin', 'admin-password')).status).toBe(200)
  })

  it('answers an unknown user and a wrong password alike, at the same cost', async () => {
    const unknown: number[] = []
    const wrong: number[] = []
    let answers: ApiResponse[] = []
    for (let i = 0; i < 8; i++) {
      for (const [username, times] of [
        [`nobody-${i}`, unknown],
        ['timing', wrong],
      ] as const) {
        const started = performance.now()
        const response = await from().login(username, `wrong-${i}`)
        times.push(performance.now() - started)
        answers.push(response)
      }
    }
    expect(new Set(answers.map((a) => JSON.stringify([a.status, a.body])))).toEqual(
      new Set([
        JSON.stringify([
          401,
          { error: { code: 'AUTH_FAILED', message: 'wrong username, password or code' } },
        ]),
      ]),
    )
    expect(answers.every((a) => a.headers.get('set-cookie') === null)).toBe(true)
    answers = []
    // Both hash once with the same parameters; sums over interleaved tries absorb the machine's noise.
    const ratio = unknown.reduce((a, b) => a + b) / wrong.reduce((a, b) => a + b)
    expect(ratio).toBeGreaterThan(0.6)
    expect(ratio).toBeLessThan(1.67)
  })

  it('logs failed logins with the user name and client address, never the password', async () => {
    await from('10.77.0.1').login('logged', 'the-wrong-secret')
    await from('10.77.0.2').login('no\nsuch user', 'another-secret')
    const failures = log.filter((l) => l.includes('login failed'))
    expect(failures).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/warning login failed for user "logged" from 10\.77\.0\.1$/),
        expect.stringMatching(/warning login failed for user "no\\nsuch user" from 10\.77\.0\.2$/),
      ]),
    )
    expect(log.join('\n')).not.toMatch(/the-wrong-secret|another-secret|wrong-\d/)
  })

  it('hashes at most two passwords at once and refuses the excess of a flood at once (503)', async () => {
    const hasher = server.context.users.hasher
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, hasher.load.running)), 2)
    let hashed = 0
    let firstHashed: () => void = () => {}
    const first = new Promise<void>((resolve) => (firstHashed = resolve))
    const flood = Array.from({ length: 40 }, (_, i) =>
      from()
        .login(`flood-${i}`, 'x')
        .then((r) => {
          if (r.status === 401 && ++hashed === 1) firstHashed()
          return r
        }),
    )
    // Once the flood is in (a first answer came), work of the thread pool that a backup would do
    // (file reads, zstd, hashing) still goes on: it finishes while the flood is being answered, not
    // after the logins queued before it.
    await first
    const before = hashed
    const hashedMeanwhile = await new Promise<number>((resolve, reject) =>
      pbkdf2('x', 'salt', 1, 32, 'sha256', (error) => (error ? reject(error) : resolve(hashed - before))),
    )
    const answers = await Promise.all(flood)
    clearInterval(sampler)
    const busy = answers.filter((a) => a.status === 503)
    expect(busy.length).toBeGreaterThanOrEqual(40 - 2 - 16)
    for (const a of busy) {
      expect(a.body.error.code).toBe('LOGIN_BUSY')
      expect(a.headers.get('retry-after')).toBe('1')
    }
    expect(answers.filter((a) => a.status === 401).length + busy.length).toBe(40)
    expect(peak).toBeLessThanOrEqual(2)
    expect(hashedMeanwhile).toBeLessThanOrEqual(2)
  })
})
