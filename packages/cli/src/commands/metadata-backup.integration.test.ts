// The must-be-true of metadata backups (issue 23): a metadata job of a server backs up the lab pool's
// database and the server's configuration into an encrypted repository; `strata repo restore-metadata`
// hands the dump back with the XAPI command; `strata server restore-config` writes the configuration into
// a fresh data directory (refusing a non-empty one); a server started there runs the jobs again once the
// pool's password and the repository's passphrase are entered again. Bad paths: a corrupted metadata
// point (a clear error), a pool that cannot be reached (a red run naming it).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import type { RunningServer } from '@strata/server'
import { ApiClient, startLabJob, startTestServer, until, type LabJob } from '@strata/server/testing'
import { runCli } from '../testing/cli-harness.js'

const PASSPHRASE = 'correct horse battery staple 23'

describe('metadata backups through the server, restored into a fresh server', () => {
  let a: LabJob
  let vaultId: string
  let metaJobId: string
  let vaultJobId: string
  let b: RunningServer | undefined
  const withPassphrase = async <T>(fn: () => Promise<T>): Promise<T> => {
    const before = process.env.STRATA_PASSPHRASE
    process.env.STRATA_PASSPHRASE = PASSPHRASE
    try {
      return await fn()
    } finally {
      if (before === undefined) delete process.env.STRATA_PASSPHRASE
      else process.env.STRATA_PASSPHRASE = before
    }
  }
  const cli = (...args: string[]) => withPassphrase(() => runCli(args))
  const runJob = async (api: ApiClient, jobId: string) => {
    const started = await api.post(`/api/jobs/${jobId}/run`)
    expect(started.status, JSON.stringify(started.body)).toBe(202)
    const runId = started.body.runId as string
    return until(
      `run ${runId}`,
      async () => {
        const runs = (await api.get(`/api/runs?job=${jobId}&limit=50`)).body as {
          runId: string
          status: string
          error?: { code: string; message: string }
        }[]
        return runs.find((r) => r.runId === runId && r.status !== 'pending')
      },
      120_000,
    )
  }

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs']) requireBinary(tool)
    a = await startLabJob('metadata')
    const vault = await a.api.post('/api/repositories', {
      name: 'vault',
      location: a.scratch.path('vault'),
      init: true,
      passphrase: PASSPHRASE,
    })
    expect(vault.status, JSON.stringify(vault.body)).toBe(201)
    vaultId = vault.body.id as string
    const poolId = ((await a.api.get('/api/pools')).body as { id: string }[])[0]!.id
    const vaultJob = await a.api.post('/api/jobs', {
      name: 'Vaulted',
      vms: { smart: { pools: [poolId], tags: ['prod'] } },
      repositories: [vaultId],
    })
    vaultJobId = vaultJob.body.id as string
    const meta = await a.api.post('/api/jobs', {
      name: 'Metadata',
      kind: 'metadata',
      vms: { smart: { pools: [] } },
      repositories: [vaultId],
      schedules: [{ cron: '0 3 * * *', retention: { keepLast: 2 } }],
    })
    expect(meta.status, JSON.stringify(meta.body)).toBe(201)
    metaJobId = meta.body.id as string
  }, 120_000)
  afterAll(async () => {
    await b?.close().catch(() => undefined)
    await a?.close()
  })

  it('backs up the pool database and the configuration as metadata points, with retention', async () => {
    for (let i = 0; i < 3; i++) expect((await runJob(a.api, metaJobId)).status).toBe('success')
    const points = (await a.api.get(`/api/repositories/${vaultId}/points`)).body as {
      id: string
      kind: string
      vmName: string
    }[]
    expect(points.map((p) => p.kind)).toEqual(['metadata', 'metadata', 'metadata', 'metadata'])
    expect(points.map((p) => p.vmName).sort()).toEqual([
      'Strata configuration',
      'Strata configuration',
      'database of pool lab',
      'database of pool lab',
    ])
    // They are no VMs: the list of a repository's VMs (what the restore page offers) leaves them out.
    expect((await a.api.get(`/api/repositories/${vaultId}/vms`)).body).toEqual([])
    const dbPoint = points.find((p) => p.vmName === 'database of pool lab')!
    const dump = await a.api.get(`/api/repositories/${vaultId}/points/${dbPoint.id}/files/pool-database.xml`)
    expect(dump.status).toBe(200)
    expect(String(dump.body)).toMatch(/^<\?xml[^>]*>\n<database><manifest>/)
    // A pool's database holds its secrets: only an admin downloads it.
    const made = await a.api.post('/api/users', {
      username: 'op',
      password: 'operator-password-1',
      role: 'operator',
    })
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    const op = new ApiClient(a.server.url)
    await op.login('op', 'operator-password-1')
    expect(
      (await op.get(`/api/repositories/${vaultId}/points/${dbPoint.id}/files/pool-database.xml`)).status,
    ).toBe(403)
    expect((await op.get(`/api/repositories/${vaultId}/points/${dbPoint.id}/files`)).status).toBe(403)
    const listed = await cli('repo', 'snapshots', '--repo', a.scratch.path('vault'))
    expect(listed.code, listed.err).toBe(0)
    expect(listed.out).toMatch(/database of pool lab .* metadata/)
  })

  it('hands the pool dump back with the XAPI command to apply it', async () => {
    const points = (await a.api.get(`/api/repositories/${vaultId}/points`)).body as {
      id: string
      vmName: string
    }[]
    const id = points.find((p) => p.vmName === 'database of pool lab')!.id
    const out = a.scratch.path('pool.xml')
    const r = await cli(
      'repo',
      'restore-metadata',
      '--repo',
      a.scratch.path('vault'),
      '--point',
      id,
      '--out',
      out,
    )
    expect(r.code, r.err).toBe(0)
    expect(readFileSync(out, 'utf8')).toContain('<database>')
    expect(r.out).toContain('xe pool-restore-database file-name=pool.xml dry-run=true')
    const again = await cli(
      'repo',
      'restore-metadata',
      '--repo',
      a.scratch.path('vault'),
      '--point',
      id,
      '--out',
      out,
    )
    expect(again.code).not.toBe(0) // an existing file is never overwritten without --force
  })

  it('refuses to restore the configuration into a non-empty data directory', async () => {
    const used = a.scratch.path('used')
    mkdirSync(used)
    writeFileSync(join(used, 'strata.db'), 'something')
    const r = await cli(
      'server',
      'restore-config',
      '--repo',
      a.scratch.path('vault'),
      '--point',
      'latest',
      '--data-dir',
      used,
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toContain('DATA_DIR_NOT_EMPTY')
    expect(readdirSync(used)).toEqual(['strata.db'])
    expect(readFileSync(join(used, 'strata.db'), 'utf8')).toBe('something')
  })

  it('restores the configuration into a fresh server, whose jobs run once the secrets are entered again', async () => {
    const fresh = a.scratch.path('fresh')
    const r = await cli(
      'server',
      'restore-config',
      '--repo',
      a.scratch.path('vault'),
      '--point',
      'latest',
      '--data-dir',
      fresh,
      '--json',
    )
    expect(r.code, r.err).toBe(0)
    const restored = JSON.parse(r.out) as { users: { username: string; password: string }[]; jobs: string[] }
    expect(restored.jobs.sort()).toEqual(['Metadata', 'Nightly', 'Vaulted'])
    const admin = restored.users.find((u) => u.username === 'admin')!
    b = await startTestServer(a.scratch, { dataDir: fresh })
    const api = new ApiClient(b.url)
    expect((await api.login('admin', admin.password)).status).toBe(200)
    const jobs = (await api.get('/api/jobs')).body as { id: string; name: string }[]
    expect(jobs.map((j) => j.id).sort()).toEqual([a.jobId, metaJobId, vaultJobId].sort())
    // No secret came back: a run is refused until the pool's password is entered again.
    const refused = await api.post(`/api/jobs/${a.jobId}/run`)
    expect(refused.status).toBe(400)
    expect(JSON.stringify(refused.body)).toContain('password')
    const pool = ((await api.get('/api/pools')).body as { id: string }[])[0]!
    const patched = await api.patch(`/api/pools/${pool.id}`, { password: a.lab.password })
    expect(patched.status, JSON.stringify(patched.body)).toBe(200)
    await until('the pool', async () =>
      (await api.get(`/api/pools/${pool.id}`)).body.connected ? true : undefined,
    )
    expect((await runJob(api, a.jobId)).status).toBe('success')
    // The encrypted repository: its jobs fail until its passphrase is entered again.
    expect((await runJob(api, vaultJobId)).status).toBe('failure')
    const repo = await api.patch(`/api/repositories/${vaultId}`, { passphrase: PASSPHRASE })
    expect(repo.status, JSON.stringify(repo.body)).toBe(200)
    expect((await runJob(api, vaultJobId)).status).toBe('success')
    expect((await runJob(api, metaJobId)).status).toBe('success')
  })

  it('fails the run of a pool that cannot be reached, naming the pool', async () => {
    await a.lab.close()
    const run = await runJob(a.api, metaJobId)
    expect(run.status).toBe('failure')
    expect(run.error?.code).toBe('POOL_UNREACHABLE')
    expect(run.error?.message).toContain("pool 'lab'")
  })

  it('says clearly that a corrupted metadata point cannot be restored', async () => {
    const chunks = a.scratch.path('vault/chunks')
    const corrupt = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) corrupt(path)
        else {
          const bytes = readFileSync(path)
          bytes[bytes.length - 1]! ^= 0xff
          writeFileSync(path, bytes)
        }
      }
    }
    corrupt(chunks)
    const r = await cli(
      'server',
      'restore-config',
      '--repo',
      a.scratch.path('vault'),
      '--point',
      'latest',
      '--data-dir',
      a.scratch.path('fresh-2'),
    )
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(/CORRUPT_OBJECT|corrupt/)
    expect(r.err).toContain("file 'strata-config.json'")
  })
})
