// Jobs through the API of a real server (no pool needed: one that cannot be reached is enough): one
// vocabulary with the old spellings accepted and warned about, the contract's validator with every
// problem at once, defaults written out, and jobs stored by the previous release read in the new words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SETTINGS_DEFAULTS } from '@strata/contract'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

describe('jobs in the API', () => {
  let scratch: Scratch
  let server: RunningServer
  let api: ApiClient
  let poolId: string
  let repoId: string
  const log: string[] = []

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-jobs-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password', echo: (l) => log.push(l) })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const pool = await api.post('/api/pools', {
      name: 'gone',
      url: 'http://127.0.0.1:9',
      password: 'x',
      insecureHttp: true,
    })
    expect(pool.status).toBe(201)
    poolId = pool.body.id
    const repo = await api.post('/api/repositories', {
      name: 'r',
      location: scratch.path('repo'),
      init: true,
    })
    repoId = repo.body.id
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const job = (extra: Record<string, unknown> = {}) => ({
    name: 'Nightly',
    vms: { smart: { pools: [poolId], tags: ['prod'] } },
    repositories: [repoId],
    ...extra,
  })

  it('stores a job with every default written out, in the new words, without warnings', async () => {
    const created = await api.post(
      '/api/jobs',
      job({
        vms: { smart: { pools: [poolId], excludeVms: ['db-01'] } },
        settings: { mode: 'full' },
        schedules: [{ id: 'daily', cron: '0 2 * * *', retention: { keepLast: 7 } }],
      }),
    )
    expect(created.status).toBe(201)
    expect(created.body.warnings).toBeUndefined()
    const stored = (await api.get(`/api/jobs/${created.body.id}`)).body
    expect(stored).toMatchObject({
      enabled: true,
      vms: { smart: { pools: [poolId], tags: [], excludeVms: ['db-01'], excludeTags: [] } },
      settings: { ...SETTINGS_DEFAULTS, mode: 'full' },
      schedules: [
        {
          id: 'daily',
          cron: '0 2 * * *',
          timezone: 'UTC',
          enabled: true,
          forceFull: false,
          retention: { keepLast: 7 },
        },
      ],
    })
    expect(stored).not.toHaveProperty('mode')
  })

  it('accepts the old spellings for one release, renamed, with warnings in the answer and the server log', async () => {
    log.length = 0
    const created = await api.post(
      '/api/jobs',
      job({
        name: 'Old words',
        mode: 'full',
        vms: { smart: { pools: [poolId], excludeUuids: ['u1'] } },
        schedules: [{ cron: '0 2 * * *', retention: { keep: 3 } }],
      }),
    )
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      settings: { mode: 'full' },
      vms: { smart: { excludeVms: ['u1'] } },
      schedules: [{ retention: { keepLast: 3 } }],
    })
    expect(created.body.warnings).toEqual([
      "mode: deprecated: renamed 'settings.mode' (the old name is accepted until the next release)",
      "vms.smart.excludeUuids: deprecated: renamed 'excludeVms' (the old name is accepted until the next release)",
      "schedules[0].retention.keep: deprecated: renamed 'keepLast' (the old name is accepted until the next release)",
    ])
    expect(
      log.filter((l) => / warning POST \/api\/jobs by admin used old spellings: mode: /.test(l)),
    ).toHaveLength(1)
    const patched = await api.patch(`/api/jobs/${created.body.id}`, { mode: 'delta' })
    expect(patched.body.settings).toEqual({ ...created.body.settings, mode: 'delta' })
    expect(patched.body.warnings).toHaveLength(1)
  })

  it('refuses what the CLI refuses, every problem at once, and changes nothing', async () => {
    const before = (await api.get('/api/jobs')).body.length
    const bad = await api.post(
      '/api/jobs',
      job({
        settings: { retires: 2 },
        schedules: [
          { cron: '0 25 * * *' },
          { cron: '0 2 * * *', timezone: 'Mars/Olympus', retention: { keepLast: 0 } },
        ],
      }),
    )
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('INVALID_REQUEST')
    expect(
      bad.body.error.details.map((d: { field: string; message: string }) => `${d.field} ${d.message}`),
    ).toEqual([
      "body/settings/retires unknown field; did you mean 'retries'?",
      "body/schedules/0/cron '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      "body/schedules/1/timezone unknown time zone 'Mars/Olympus' (an IANA name such as 'Europe/Paris')",
      'body/schedules/1/retention keeps nothing: give keepLast or a period above 0 (or no retention to keep everything)',
    ])
    const id = (await api.get('/api/jobs')).body[0].id
    const patch = await api.patch(`/api/jobs/${id}`, { schedules: [{ cron: '0 25 * * *' }] })
    expect(patch.status).toBe(400)
    expect(patch.body.error.details[0].field).toBe('body/schedules/0/cron')
    expect((await api.get('/api/jobs')).body.length).toBe(before)
  })

  it('reads a job stored by the previous release in the new words, with the defaults', async () => {
    const old = {
      id: 'job-old',
      name: 'Stored before',
      enabled: true,
      mode: 'full',
      vms: { smart: { pools: [poolId], tags: [], excludeTags: [], excludeUuids: ['u9'] } },
      repositories: [repoId],
      settings: { retries: 1 },
      schedules: [
        {
          id: 's1',
          cron: '0 3 * * *',
          timezone: 'UTC',
          enabled: true,
          retention: { keep: 4, daily: 0, weekly: 0, monthly: 0, yearly: 0 },
          forceFull: false,
        },
      ],
    }
    await server.context.jobs.db.run('INSERT INTO jobs (id, name, body) VALUES (?, ?, ?)', [
      old.id,
      old.name,
      JSON.stringify(old),
    ])
    const read = (await api.get('/api/jobs/job-old')).body
    expect(read.settings).toEqual({ ...SETTINGS_DEFAULTS, mode: 'full', retries: 1 })
    expect(read.vms.smart.excludeVms).toEqual(['u9'])
    expect(read.schedules[0].retention).toEqual({ keepLast: 4, daily: 0, weekly: 0, monthly: 0, yearly: 0 })
    expect(read).not.toHaveProperty('mode')
  })

  it('documents the old names as deprecated in the OpenAPI document', async () => {
    const doc = (await api.get('/api/openapi.json')).body
    const body = doc.paths['/api/jobs'].post.requestBody.content['application/json'].schema
    expect(body.properties.mode).toMatchObject({ deprecated: true })
    expect(body.properties.settings.properties.mode).toMatchObject({
      default: 'delta',
      anyOf: [expect.objectContaining({ enum: ['delta'] }), expect.objectContaining({ enum: ['full'] })],
    })
    const pool = doc.paths['/api/pools'].post.requestBody.content['application/json'].schema
    expect(Object.keys(pool.properties)).toEqual(expect.arrayContaining(['fingerprint', 'insecureHttp']))
  })
})
