import { describe, expect, it } from 'vitest'
import { completeJob } from './complete-job.js'
import { formatProblem } from './problems.js'
import { checkJobFile, checkJobInput, type Checked } from './validate.js'

const pools = [
  { id: 'site-a', url: 'https://10.0.0.1' },
  { id: 'site-b', url: 'https://10.0.1.1' },
]
const replication = {
  id: 'cr',
  kind: 'replication',
  pools,
  vms: { pools: ['site-a'], tags: ['prod'] },
  targets: [{ pool: 'site-b', sr: 'sr-uuid', networks: { 'net-a': 'net-b' } }],
  settings: { mode: 'delta', withMemory: true },
  schedules: [{ id: 'hourly', retention: { keepLast: 3 }, healthCheck: { tags: ['web'], timeout: '5m' } }],
}
const problems = (r: Checked<unknown>) => (r.ok ? [] : r.problems.map(formatProblem))

describe('replication jobs', () => {
  it('accept targets on any pool of the job, with memory and a health check per schedule', () => {
    expect(checkJobFile(replication)).toMatchObject({ ok: true, warnings: [] })
    expect(checkJobFile({ ...replication, settings: { mode: 'full' } }).ok).toBe(true)
  })

  it('refuse what a replication job cannot use, each problem with its path', () => {
    const job = {
      ...replication,
      repositories: [{ name: 'local', location: '/srv/repo' }],
      targets: [
        { pool: 'site-c', sr: 'x' },
        { pool: 'site-b', sr: 'sr-uuid' },
        { pool: 'site-b', sr: 'sr-uuid' },
      ],
      schedules: [{ id: 'hourly', healthCheck: { pool: 'nowhere', timeout: 'soon', boot: true } }],
    }
    expect(problems(checkJobFile(job))).toEqual([
      "schedules[0].healthCheck.boot: unknown field; did you mean 'pool'?",
      `schedules[0].healthCheck.timeout: expected a duration: seconds, or '90s', '30m', '6h', '1d', not "soon"`,
      "targets[0].pool: no pool 'site-c' in the job's pools (site-a, site-b)",
      "schedules[0].healthCheck.pool: no pool 'nowhere' in the job's pools (site-a, site-b)",
      "repositories: a replication job writes to SRs, not repositories (or use kind 'backup')",
      "targets[2].sr: SR 'sr-uuid' of that pool is a target twice",
    ])
    expect(problems(checkJobFile({ ...replication, targets: [] }))).toEqual([
      'targets: a replication job needs at least one target SR',
    ])
    expect(problems(checkJobFile({ ...replication, kind: 'tape' }))).toEqual([
      'kind: expected one of "backup", "replication", "mirror", "metadata", not "tape"',
    ])
  })

  it('keep a backup job to repositories, and its health checks to a named SR', () => {
    const backup = { id: 'b', pools, vms: ['web-01'], repositories: [{ name: 'r', location: '/r' }] }
    expect(checkJobFile(backup).ok).toBe(true)
    expect(
      problems(
        checkJobFile({
          ...backup,
          repositories: [],
          targets: [{ pool: 'site-b', sr: 's' }],
          schedules: [{ id: 'd', healthCheck: {} }],
        }),
      ),
    ).toEqual([
      'repositories: a backup job needs at least one repository',
      "targets: only a replication job has targets (kind: 'replication')",
      'schedules[0].healthCheck.sr: a health check restores the point to an SR: name it',
    ])
  })

  it('are taken by the API with server pool ids, and stored complete', () => {
    const input = {
      name: 'CR',
      kind: 'replication',
      vms: { uuids: ['u1'] },
      repositories: [],
      targets: [{ pool: 'pool-b', sr: 'sr-uuid' }],
      schedules: [{ cron: '0 * * * *', retention: { keepLast: 2 }, healthCheck: { guestCheck: true } }],
    }
    const checked = checkJobInput(input)
    expect(checked.ok).toBe(true)
    if (!checked.ok) return
    const stored = completeJob(checked.value, { id: 'j', newScheduleId: () => 's' })
    expect(stored).toMatchObject({
      kind: 'replication',
      repositories: [],
      targets: [{ pool: 'pool-b', sr: 'sr-uuid' }],
      schedules: [{ id: 's', healthCheck: { guestCheck: true } }],
    })
    expect(problems(checkJobInput({ ...input, targets: [] }))).toEqual([
      'targets: a replication job needs at least one target SR',
    ])
  })
})
