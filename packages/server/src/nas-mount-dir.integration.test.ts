// Where the server mounts NAS remotes (nfs://, smb://, as root): under its own data directory, never in
// the home directory of the user it runs as. The systemd unit hides home directories (ProtectHome=yes)
// and lets the service write only its data directory, so a mount point anywhere else cannot be made.
// Runs as root, as the NAS drop-in runs the service: Strata mounts shares only then.
import { existsSync, readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

describe("the server's NAS mount directory", () => {
  let scratch: Scratch
  let server: RunningServer
  let api: ApiClient
  const home = process.env.HOME

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-nas-')
    process.env.HOME = scratch.path('home') // this test file's process only (forked per file)
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
  })
  afterAll(async () => {
    process.env.HOME = home
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('makes the mount point of a repository being added in <data>/mounts', async () => {
    // No SMB password given: the mount stops before any command runs, after its mount point is made.
    const added = await api.post('/api/repositories', {
      name: 'nas',
      location: 'smb://backup@127.0.0.1/share/strata',
      init: true,
    })
    expect(added.status).toBe(400)
    expect(JSON.stringify(added.body)).toMatch(/STRATA_SMB_PASSWORD/)
    expect(readdirSync(`${server.config.dataDir}/mounts`)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^smb-127\.0\.0\.1-[0-9a-f]+$/)]),
    )
    expect(existsSync(scratch.path('home/.strata'))).toBe(false)
  })

  it("gives a job's worker the data directory its mounts go under", async () => {
    const repo = await api.post('/api/repositories', {
      name: 'r',
      location: scratch.path('repo'),
      init: true,
    })
    expect(repo.status).toBe(201)
    const pool = await api.post('/api/pools', {
      name: 'gone',
      url: 'http://127.0.0.1:9',
      password: 'x',
      insecureHttp: true,
    })
    expect(pool.status).toBe(201)
    const job = await api.post('/api/jobs', {
      name: 'Nightly',
      vms: { smart: { pools: [pool.body.id], tags: ['prod'] } },
      repositories: [repo.body.id],
    })
    expect(job.status).toBe(201)
    // The worker's openStore puts mount points in $STRATA_HOME/mounts (storage/open-store.ts).
    const { env } = await server.context.runs.engineJob(job.body)
    expect(env.STRATA_HOME).toBe(server.config.dataDir)
  })
})
