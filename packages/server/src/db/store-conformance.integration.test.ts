// Every store behaves the same on SQLite and on PostgreSQL: the same cases, run on both (the schema
// from the same migrations). Each test gets a database of its own.
import { randomBytes } from 'node:crypto'
import { SETTINGS_DEFAULTS } from '@strata/contract'
import { usePostgres } from '@strata/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { AgentStore } from '../agents/agent-store.js'
import { PasswordHasher } from '../auth/password-hasher.js'
import { ApiTokens } from '../auth/tokens.js'
import { Users } from '../auth/users.js'
import type { ApiJob } from '../jobs/job-model.js'
import { JobStore } from '../jobs/job-store.js'
import { MaintenanceStore } from '../maintenance/maintenance-store.js'
import { NotificationStore } from '../notifications/notification-store.js'
import { PoolStore } from '../pools/pool-store.js'
import { RepositoryStore } from '../repositories/repository-store.js'
import { RollbackStore } from '../repositories/rollback-store.js'
import { RunStore } from '../runs/run-store.js'
import { SecretBox } from '../secret-box.js'
import { ServerLog } from '../server-log.js'
import { Settings } from '../settings.js'
import { RunStatsStore } from '../stats/run-stats-store.js'
import { UsageStore } from '../stats/usage-store.js'
import { testBackends } from '../testing/db-backends.js'
import { XoRemoteStore } from '../xo-remotes/xo-remote-store.js'
import type { Db } from './db-handle.js'
import { migrate } from './database.js'

const job = (id: string, name: string): ApiJob => ({
  id,
  name,
  enabled: true,
  kind: 'backup',
  vms: { uuids: ['x'] },
  repositories: ['r'],
  targets: [],
  settings: SETTINGS_DEFAULTS,
  schedules: [],
  report: 'default',
})

describe.each(testBackends(usePostgres))('the stores on $name', (backend) => {
  const disposers: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const dispose of disposers.splice(0)) await dispose()
  })
  const fresh = async (): Promise<Db> => {
    const { db, dispose } = await backend.open()
    disposers.push(dispose)
    await migrate(db, new SecretBox(randomBytes(32)))
    return db
  }
  const box = new SecretBox(randomBytes(32))

  it('users and sessions: create, find, update, the last admin kept, a session ended with its user', async () => {
    const db = await fresh()
    const users = new Users(db, new PasswordHasher())
    const admin = await users.create('admin', 'password-1', 'admin')
    await expect(users.create('admin', 'x', 'operator')).rejects.toMatchObject({ status: 409 })
    const op = await users.create('op', 'password-2', 'operator')
    expect((await users.list()).map((u) => u.username)).toEqual(['admin', 'op'])
    expect(await users.count()).toBe(2)
    await expect(users.update(admin.id, { role: 'operator' })).rejects.toMatchObject({ code: 'LAST_ADMIN' })
    expect((await users.update(op.id, { role: 'admin' })).role).toBe('admin')
    const session = await users.openSession(op.id)
    expect((await users.bySession(session.id))?.id).toBe(op.id)
    expect(await users.useTotpStep(op.id, 5)).toBe(true)
    expect(await users.useTotpStep(op.id, 5)).toBe(false)
    await users.delete(op.id) // its sessions go with it (ON DELETE CASCADE)
    expect(await users.bySession(session.id)).toBeUndefined()
    expect(await db.get('SELECT count(*) AS n FROM sessions')).toEqual({ n: 0 })
    expect(await users.find(op.id)).toBeUndefined()
  })

  it('tokens: created, used, limited, revoked; a new password revokes them in one transaction', async () => {
    const db = await fresh()
    const users = new Users(db, new PasswordHasher())
    const tokens = new ApiTokens(db)
    const user = await users.create('u', 'password-1', 'admin')
    const t = await tokens.create(user.id, 'ci', 30, 1_000_000)
    expect(await tokens.use(t.token, 1_000_001)).toEqual({ id: t.id, userId: user.id })
    expect((await tokens.list(user.id))[0]).toMatchObject({ id: t.id, lastUsed: 1_000_001 })
    expect(await tokens.isLive(t.id, 1_000_002)).toBe(true)
    await users.update(user.id, { password: 'password-2' }, 1_000_003)
    expect(await tokens.isLive(t.id, 1_000_004)).toBe(false)
    await expect(tokens.revoke('someone-else', t.id)).rejects.toMatchObject({ status: 404 })
  })

  it('pools, repositories and XO remotes: secrets sealed to their row, names unique, updates and deletes', async () => {
    const db = await fresh()
    const pools = new PoolStore(db, box)
    const pool = await pools.create({ name: 'lab', url: 'https://h/', password: 'pw' })
    expect(pool).toMatchObject({ name: 'lab', url: 'https://h', insecureHttp: false })
    expect(await pools.password(pool.id)).toBe('pw')
    await expect(pools.create({ name: 'lab', url: 'https://g', password: 'x' })).rejects.toMatchObject({
      status: 409,
    })
    expect((await pools.update(pool.id, { name: 'lab-2', insecureHttp: true })).insecureHttp).toBe(true)
    const repos = new RepositoryStore(db, box)
    const repo = await repos.create({ name: 'nas', location: '/srv', passphrase: 'secret' })
    expect(await repos.secrets(repo.id)).toEqual({ passphrase: 'secret', s3: undefined })
    expect((await repos.update(repo.id, { name: 'nas-2' })).name).toBe('nas-2')
    const xo = new XoRemoteStore(db, box)
    const remote = await xo.create({ name: 'xo', location: '/mnt/xo', key: 'k' })
    expect(await xo.secrets(remote.id)).toMatchObject({ key: 'k' })
    await pools.delete(pool.id)
    await repos.delete(repo.id)
    await xo.delete(remote.id)
    await expect(pools.get(pool.id)).rejects.toMatchObject({ status: 404 })
    expect([await pools.list(), await repos.list(), await xo.list()]).toEqual([[], [], []])
  })

  it('jobs, runs and their statistics: listed newest first, filtered, ended once', async () => {
    const db = await fresh()
    const jobs = new JobStore(db)
    await jobs.save(job('j1', 'nightly'))
    await jobs.save({ ...job('j1', 'nightly'), name: 'renamed' })
    expect((await jobs.list()).map((j) => j.name)).toEqual(['renamed'])
    const runs = new RunStore(db)
    const row = { jobId: 'j1', jobName: 'renamed', kind: 'backup' as const, warnings: 0 }
    await runs.insert({ ...row, runId: 'r1', status: 'pending', start: 10 })
    await runs.insert({ ...row, runId: 'r2', status: 'pending', start: 20 })
    await runs.addWarning('r1')
    await runs.addDetails('r1', { vms: [{ uuid: 'v', name: 'web', status: 'success' }] })
    await runs.end('r1', 'success', 15)
    await runs.end('r1', 'failure', 16) // ended already: stays as it ended
    expect((await runs.list()).map((r) => r.runId)).toEqual(['r2', 'r1'])
    expect(await runs.get('r1')).toMatchObject({ status: 'success', end: 15, warnings: 1 })
    expect((await runs.list({ status: 'pending' })).map((r) => r.runId)).toEqual(['r2'])
    expect((await runs.list({ since: 15, limit: 5 })).map((r) => r.runId)).toEqual(['r2'])
    const stats = new RunStatsStore(db)
    await stats.record((await runs.get('r1'))!, { bytesRead: 2 ** 40, bytesStored: 2 ** 33, size: 2 ** 41 })
    expect(await stats.runs({ since: 0 })).toEqual([
      expect.objectContaining({ runId: 'r1', bytesRead: 2 ** 40, bytesStored: 2 ** 33 }),
    ])
    expect(await stats.lastSuccessByJob()).toEqual(new Map([['j1', 15]]))
    expect(await stats.vmLastSuccess()).toEqual([expect.objectContaining({ vmUuid: 'v', time: 15 })])
    await jobs.delete('j1')
    await expect(jobs.get('j1')).rejects.toMatchObject({ status: 404 })
  })

  it('usage samples, rollback watch, maintenance and settings: kept, replaced, pruned', async () => {
    const db = await fresh()
    const usage = new UsageStore(db)
    const day = 86_400_000
    const sample = (time: number, storedBytes: number) => ({
      time,
      storedBytes,
      logicalBytes: 2 * storedBytes,
      chunks: 1,
      points: 1,
    })
    const now = Date.now() - 1000
    await usage.add('repo', sample(now, 5))
    await usage.add('repo', sample(now, 7)) // the same time again: replaced
    expect((await usage.list('repo', 0)).map((s) => s.storedBytes)).toEqual([7])
    expect((await usage.latest()).get('repo')?.storedBytes).toBe(7)
    await usage.add('old', sample(day * 10 + 1, 1))
    await usage.add('old', sample(day * 10 + 2, 2)) // the last of its day stays after a week
    await usage.prune(day * 30)
    expect((await usage.list('old', 0)).map((s) => s.storedBytes)).toEqual([2])
    const rollback = new RollbackStore(db)
    await rollback.update('repo', [{ pointId: 'p1', vm: 'v', time: 1 }], [])
    await rollback.update('repo', [{ pointId: 'p1', vm: 'v', time: 1 }], []) // seen again: once
    expect(await rollback.seen('repo')).toEqual([{ pointId: 'p1', vm: 'v', time: 1 }])
    await rollback.setNewest('repo', { pointId: 'p1', vm: 'v', time: 1 })
    await rollback.setWarning('repo', { message: 'gone', vanished: [], detected: 3 } as never)
    expect(await rollback.newest('repo')).toEqual({ pointId: 'p1', vm: 'v', time: 1 })
    expect(await rollback.warning('repo')).toMatchObject({ message: 'gone' })
    await rollback.forget('repo')
    expect(await rollback.seen('repo')).toEqual([])
    const maintenance = new MaintenanceStore(db)
    expect(await maintenance.lastStart('repo', 'gc', 42)).toBe(42)
    expect(await maintenance.lastStart('repo', 'gc', 99)).toBe(42)
    const settings = await Settings.open(db, new ServerLog(() => undefined))
    await settings.setRestoreTag('from backup')
    expect(await settings.view()).toEqual({ restoreTag: 'from backup' })
    await settings.setRestoreTag(null)
    expect(await settings.view()).toEqual({})
    settings.close()
  })

  it('notifications and agents: a refused patch changes nothing; an agent owns pools until revoked', async () => {
    const db = await fresh()
    const notifications = new NotificationStore(db, box)
    await notifications.update({ publicUrl: 'https://strata.example/' })
    await expect(
      notifications.update({ publicUrl: null, dailySummary: { timezone: 'Mars/Base' } } as never),
    ).rejects.toMatchObject({ status: 400 })
    expect((await notifications.global()).publicUrl).toBe('https://strata.example')
    const hook = await notifications.webhooks.create({ name: 'h', url: 'https://h.example/x', secret: 's' })
    expect(await notifications.webhooks.secret(hook.id)).toBe('s')
    expect((await notifications.view()).webhooks).toHaveLength(1)
    const agents = new AgentStore(db, box)
    const pool = await new PoolStore(db, box).create({ name: 'far', url: 'https://far', password: 'pw' })
    const agent = await agents.create('site-b')
    expect((await agents.byToken(agent.token))?.id).toBe(agent.id)
    await agents.assign(pool.id, agent.id)
    expect(await agents.pools(agent.id)).toEqual([pool.id])
    expect(await agents.agentOfPool(pool.id)).toBe(agent.id)
    await agents.delete(agent.id) // its pools are the server's again (ON DELETE CASCADE)
    expect(await agents.agentOfPool(pool.id)).toBeUndefined()
    expect(await agents.byToken(agent.token)).toBeUndefined()
  })

  it('agents and repositories: one agent opens a repository, until it is given back, deleted or revoked', async () => {
    const db = await fresh()
    const agents = new AgentStore(db, box)
    const repositories = new RepositoryStore(db, box)
    const [a, b] = [await agents.create('site-a'), await agents.create('site-b')]
    const [r1, r2] = [
      await repositories.create({ name: 'at-a', location: '/srv/a' }),
      await repositories.create({ name: 'at-b', location: '/srv/b' }),
    ]
    await agents.assignRepository(r1.id, a.id)
    await agents.assignRepository(r2.id, a.id)
    expect((await agents.repositories(a.id)).sort()).toEqual([r1.id, r2.id].sort())
    await agents.assignRepository(r2.id, b.id) // to another agent: moved, not doubled
    expect(await agents.agentOfRepository(r2.id)).toBe(b.id)
    expect(await agents.repositories(a.id)).toEqual([r1.id])
    await expect(agents.assignRepository(r1.id, 'agent-unknown')).rejects.toMatchObject({ status: 404 })
    expect(await agents.agentOfRepository(r1.id)).toBe(a.id)
    expect(await agents.repositoryName(r1.id)).toBe('at-a')
    await agents.assignRepository(r1.id, null) // the server's again
    expect(await agents.agentOfRepository(r1.id)).toBeUndefined()
    await repositories.delete(r2.id) // its assignment goes with it (ON DELETE CASCADE)
    expect(await agents.repositories(b.id)).toEqual([])
    expect(await agents.repositoryName(r2.id)).toBe(r2.id)
    await agents.assignRepository(r1.id, b.id)
    await agents.delete(b.id) // revoked: its repositories are the server's again
    expect(await agents.agentOfRepository(r1.id)).toBeUndefined()
    expect(await db.get('SELECT count(*) AS n FROM agent_repositories')).toEqual({ n: 0 })
  })
})
