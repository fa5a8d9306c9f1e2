// What survives a restart of the server on the same data directory: users and sessions, sealed secrets
// (the key file is reused), and runs that were pending when it stopped, which end as interrupted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { startTestServer } from './testing/test-server.js'
import { ApiClient } from './testing/api-client.js'

describe('server restart', () => {
  let scratch: Scratch
  beforeAll(async () => {
    scratch = await scratchDir('strata-server-restart-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  const start = () => startTestServer(scratch)

  it('keeps users, sessions and sealed secrets, and ends runs left pending as interrupted', async () => {
    const first = await start()
    const password = first.generatedAdminPassword!
    expect(password).toMatch(/^\S{12,}$/)
    const api = new ApiClient(first.url)
    await api.login('admin', password)
    const pool = (
      await api.post('/api/pools', {
        name: 'far',
        url: 'http://127.0.0.1:9',
        insecureHttp: true,
        password: 'sealed-pw',
      })
    ).body
    await first.context.runs.deps.runs.insert({
      runId: '20260101T000000Z-abcdef',
      jobId: 'job-x',
      jobName: 'was running',
      kind: 'backup',
      status: 'pending',
      start: Date.now(),
      warnings: 0,
    })
    await first.close()

    const second = await start()
    expect(second.generatedAdminPassword).toBeUndefined()
    const again = new ApiClient(second.url)
    again.cookie = api.cookie // the session survives
    expect((await again.get('/api/me')).body).toMatchObject({ username: 'admin' })
    expect(await second.context.pools.password(pool.id)).toBe('sealed-pw')
    let run = (await again.get('/api/runs')).body[0]
    for (let i = 0; i < 50 && run.status === 'pending'; i++) {
      await sleep(20)
      run = (await again.get('/api/runs')).body[0]
    }
    expect(run).toMatchObject({
      runId: '20260101T000000Z-abcdef',
      status: 'interrupted',
      error: { code: 'SERVER_STOPPED' },
    })
    await second.close()
  })
})
