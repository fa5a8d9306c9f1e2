// A pool's stored password against a real server and its database: a sealed value copied into another
// pool's row (by someone who can write the database, not knowing the key) does not open there, and a
// pool's URL changes only with its password given again, so that an admin session alone cannot send
// the stored password to another host, and the old host's pinned certificate does not carry over.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

/** Pinned, so that no probe runs: nothing listens on port 9, the pools only sit in the database. */
const PIN = 'AB:'.repeat(31) + 'AB'

describe('pool secrets', () => {
  let scratch: Scratch
  let server: RunningServer
  let admin: ApiClient

  const addPool = async (name: string, password: string): Promise<string> => {
    const created = await admin.post('/api/pools', {
      name,
      url: 'https://127.0.0.1:9',
      password,
      fingerprint: PIN,
    })
    expect(created.status).toBe(201)
    return created.body.id as string
  }

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-pool-secrets-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    admin = new ApiClient(server.url)
    await admin.login('admin', 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it("does not open a sealed password copied into another pool's row", async () => {
    const a = await addPool('pool-a', 'password of a')
    const b = await addPool('pool-b', 'password of b')
    const { db, pools } = server.context
    expect(await pools.password(a)).toBe('password of a')
    const sealedA = (
      (await db.get('SELECT password_sealed FROM pools WHERE id = ?', [a])) as { password_sealed: string }
    ).password_sealed
    await db.run('UPDATE pools SET password_sealed = ? WHERE id = ?', [sealedA, b])
    await expect(pools.password(b)).rejects.toThrow(
      expect.objectContaining({
        code: 'SECRET_UNREADABLE',
        message: expect.stringContaining(`pools '${b}'`),
      }),
    )
    expect(await pools.password(a)).toBe('password of a')
  })

  it("refuses to change a pool's URL without its password, and changes it with one, dropping the old pin", async () => {
    const id = await addPool('moving', 'the stored password')
    const moved = await admin.patch(`/api/pools/${id}`, { url: 'https://attacker.example' })
    expect(moved.status).toBe(400)
    expect(moved.body.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'body/password' } })
    expect(moved.body.error.message).toContain("changing the URL of pool 'moving' needs its password again")
    expect((await admin.get(`/api/pools/${id}`)).body).toMatchObject({
      url: 'https://127.0.0.1:9',
      fingerprint: PIN,
    })
    // The same URL (spelt with a trailing slash) and other fields need no password, and keep the pin.
    const renamed = await admin.patch(`/api/pools/${id}`, { url: 'https://127.0.0.1:9/', name: 'renamed' })
    expect(renamed.status).toBe(200)
    expect(renamed.body.fingerprint).toBe(PIN)
    const withPassword = await admin.patch(`/api/pools/${id}`, {
      url: 'http://127.0.0.1:10',
      password: 'the new host password',
      insecureHttp: true,
    })
    expect(withPassword.status).toBe(200)
    expect(withPassword.body.url).toBe('http://127.0.0.1:10')
    // The pin was the old host's certificate: it says nothing about the new one.
    expect(withPassword.body.fingerprint).toBeUndefined()
    expect(await server.context.pools.password(id)).toBe('the new host password')
  })
})
