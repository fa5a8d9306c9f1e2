import { describe, expect, it } from 'vitest'
import { completeJob } from './complete-job.js'
import { formatProblem } from './problems.js'
import { checkJobFile, checkJobInput, type Checked } from './validate.js'

const problems = (r: Checked<unknown>) => (r.ok ? [] : r.problems.map(formatProblem))

const file = {
  id: 'offsite',
  kind: 'mirror',
  pools: [],
  vms: ['web-01'],
  repositories: [{ name: 'local', location: '/srv/repo' }],
  mirrorTo: [{ name: 'nas', location: '/mnt/nas/repo' }],
  schedules: [{ id: 'nightly', retention: { keepLast: 7 } }],
}
const input = {
  name: 'Offsite copy',
  kind: 'mirror',
  vms: { smart: {} },
  repositories: ['repo-a'],
  mirrorTo: ['repo-b', 'repo-c'],
  schedules: [{ cron: '0 3 * * *', retention: { keepLast: 7 } }],
}

describe('mirror jobs', () => {
  it('copy from one repository to others, every VM or the listed ones, without pools', () => {
    expect(checkJobFile(file)).toMatchObject({ ok: true, warnings: [] })
    expect(checkJobFile({ ...file, vms: {} }).ok).toBe(true)
    expect(checkJobInput(input).ok).toBe(true)
    expect(checkJobInput({ ...input, vms: { uuids: ['u1'] } }).ok).toBe(true)
  })

  it('refuse a job that names no source, several, no target, or the source as its target', () => {
    expect(problems(checkJobInput({ ...input, repositories: [], mirrorTo: [] }))).toEqual([
      'repositories: a mirror job copies from one repository: name exactly one',
      'mirrorTo: a mirror job needs at least one target repository',
    ])
    expect(
      problems(checkJobInput({ ...input, repositories: ['a', 'b'], mirrorTo: ['c', 'a', 'c'] })),
    ).toEqual([
      'repositories: a mirror job copies from one repository: name exactly one',
      "mirrorTo[1]: 'a' is the source repository: a repository is not its own mirror",
      "mirrorTo[2]: 'c' appears twice",
    ])
    expect(problems(checkJobFile({ ...file, mirrorTo: [{ name: 'local', location: '/x' }] }))).toEqual([
      "mirrorTo[0]: 'local' is the source repository: a repository is not its own mirror",
    ])
  })

  it('refuse what a mirror cannot do: SR targets, health checks, smart rules other than all', () => {
    const job = {
      ...input,
      vms: { smart: { tags: ['prod'] } },
      targets: [{ pool: 'p', sr: 's' }],
      schedules: [{ cron: '0 3 * * *', healthCheck: { sr: 'x' } }],
    }
    expect(problems(checkJobInput(job))).toEqual([
      "targets: only a replication job has targets (kind: 'replication')",
      'schedules[0].healthCheck: a mirror job copies restore points and boots nothing: remove it',
      "vms.smart: a mirror job copies every VM's points ({ smart: {} }) or those of listed uuids, not smart rules",
    ])
  })

  it('keep mirror targets to mirror jobs, and pools to the other kinds', () => {
    const backup = { ...input, kind: 'backup', mirrorTo: ['repo-b'] }
    expect(problems(checkJobInput(backup))).toEqual([
      "mirrorTo: only a mirror job has mirror targets (kind: 'mirror')",
    ])
    // An empty list is no target: how a PATCH turns a mirror job into another kind.
    expect(problems(checkJobInput({ ...backup, mirrorTo: [] }))).toEqual([])
    expect(problems(checkJobFile({ ...file, kind: 'backup', mirrorTo: undefined }))).toEqual([
      'pools: needs at least 1 item',
    ])
  })

  it('are stored complete, with their targets', () => {
    const checked = checkJobInput(input)
    if (!checked.ok) throw new Error('refused')
    const stored = completeJob(checked.value, { id: 'j', newScheduleId: () => 's' })
    expect(stored).toMatchObject({
      kind: 'mirror',
      repositories: ['repo-a'],
      mirrorTo: ['repo-b', 'repo-c'],
      targets: [],
    })
    expect(
      completeJob({ ...input, kind: 'backup', mirrorTo: undefined } as never, {
        id: 'k',
        newScheduleId: () => 's',
      }),
    ).not.toHaveProperty('mirrorTo')
  })
})
