import { describe, expect, it } from 'vitest'
import { formatProblem } from './problems.js'
import { checkJobFile, checkJobInput, type Checked } from './validate.js'

const problems = (r: Checked<unknown>) => (r.ok ? [] : r.problems.map(formatProblem))
const file = {
  id: 'meta',
  kind: 'metadata',
  pools: [{ id: 'site-a', url: 'https://10.0.0.1' }],
  vms: { pools: ['site-a'] },
  repositories: [{ name: 'local', location: '/srv/repo' }],
  schedules: [{ id: 'daily', retention: { keepLast: 7 } }],
}

describe('metadata jobs', () => {
  it('accept pools by smart rules and repositories, in job files and the API', () => {
    expect(checkJobFile(file)).toMatchObject({ ok: true, warnings: [] })
    const api = { name: 'meta', kind: 'metadata', vms: { smart: { pools: [] } }, repositories: ['r1'] }
    expect(checkJobInput(api).ok).toBe(true)
  })

  it('refuse VM lists, targets and a job without a repository, each with its path', () => {
    expect(problems(checkJobFile({ ...file, vms: ['uuid-1'], repositories: [] }))).toEqual([
      'repositories: a metadata job needs at least one repository',
      'vms: a metadata job selects pools, not VMs: vms.smart.pools (empty: every pool)',
    ])
    const api = { name: 'meta', kind: 'metadata', vms: { uuids: ['u'] }, repositories: ['r1'] }
    expect(problems(checkJobInput({ ...api, targets: [{ pool: 'p', sr: 's' }] }))).toEqual([
      "targets: only a replication job has targets (kind: 'replication')",
      'vms: a metadata job selects pools, not VMs: vms.smart.pools (empty: every pool)',
    ])
  })
})
