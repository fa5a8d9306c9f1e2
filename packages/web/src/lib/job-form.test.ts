import { describe, expect, it } from 'vitest'
import { checkJobInput, completeJob, SETTINGS_DEFAULTS, type StoredJob } from '@strata/contract'
import {
  cleanSettings,
  describeSelection,
  formProblems,
  formToInput,
  jobToForm,
  newJobForm,
  splitList,
} from './job-form'
import { SETTING_FIELDS } from './setting-fields'

/** A job as the server stored it before this release: settings sent sparse, no default written out. */
const storedSparse = {
  id: 'j1',
  name: 'Nightly',
  enabled: true,
  vms: { smart: { pools: ['p1'], tags: ['prod'], excludeVms: [], excludeTags: [] } },
  repositories: ['r1'],
  settings: { retries: 1 },
  schedules: [{ id: 's1', cron: '0 2 * * *', timezone: 'UTC', enabled: true, forceFull: false }],
} as unknown as StoredJob

describe('job form', () => {
  it('shows a stored job as it runs: the defaults of settings it does not spell out', () => {
    const form = jobToForm(storedSparse)
    // "Read disks over NBD" checked, "Full backup every N runs" filled: what the engine will use.
    expect(form.settings.preferNbd).toBe(true)
    expect(form.settings.fullInterval).toBe(SETTINGS_DEFAULTS.fullInterval)
    expect(form.settings).toEqual({ ...SETTINGS_DEFAULTS, retries: 1 })
    expect(form.schedules[0]!.retention).toEqual({ keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 })
    // Stored before jobs had a report policy: it follows the server's.
    expect(form.report).toBe('default')
  })

  it('maps a stored job onto the form and back without changing it', () => {
    const input = {
      name: 'Nightly',
      vms: { smart: { pools: ['p1'], tags: ['prod'], powerState: 'Running', excludeVms: ['db-01'] } },
      repositories: ['r1'],
      settings: {
        mode: 'full',
        preferNbd: false,
        fullInterval: 7,
        timeout: '6h',
        maxBytesPerSecond: 1048576,
      },
      schedules: [
        { id: 's1', name: 'Daily', cron: '0 2 * * *', timezone: 'Europe/Paris', retention: { keepLast: 3 } },
      ],
      report: 'failure',
    }
    const checked = checkJobInput(input)
    if (!checked.ok) throw new Error('the fixture is invalid')
    const stored = completeJob(checked.value, { id: 'j1', newScheduleId: () => 'new' })
    const again = checkJobInput(formToInput(jobToForm(stored)))
    if (!again.ok) throw new Error(JSON.stringify(again.problems))
    expect(completeJob(again.value, { id: 'j1', newScheduleId: () => 'new' })).toEqual(stored)
  })

  it('maps a replication job (targets, a health check per schedule) onto the form and back', () => {
    const input = {
      name: 'DR',
      kind: 'replication',
      vms: { uuids: ['vm-1'] },
      repositories: [],
      targets: [{ pool: 'p2', sr: 'sr-uuid' }],
      settings: { mode: 'delta', withMemory: true },
      schedules: [
        {
          id: 's1',
          cron: '0 * * * *',
          timezone: 'UTC',
          retention: { keepLast: 4 },
          healthCheck: { tags: ['critical'], timeout: '5m', guestCheck: true },
        },
      ],
    }
    const checked = checkJobInput(input)
    if (!checked.ok) throw new Error(JSON.stringify(checked.problems))
    const stored = completeJob(checked.value, { id: 'j2', newScheduleId: () => 'new' })
    const form = jobToForm(stored)
    expect(form.kind).toBe('replication')
    expect(form.targets).toEqual([{ pool: 'p2', sr: 'sr-uuid' }])
    expect(form.schedules[0]!.healthCheck).toMatchObject({ tags: ['critical'], timeout: '5m' })
    const again = checkJobInput(formToInput(form))
    if (!again.ok) throw new Error(JSON.stringify(again.problems))
    expect(completeJob(again.value, { id: 'j2', newScheduleId: () => 'new' })).toEqual(stored)
  })

  it('sends only the list of its kind: a replication job made from a backup form drops the repositories', () => {
    const form = { ...newJobForm(), name: 'x', kind: 'replication' as const, repositories: ['r1'] }
    form.targets = [{ pool: 'p1', sr: ' sr-1 ' }]
    const input = formToInput(form)
    expect(input.repositories).toEqual([])
    expect(input.targets).toEqual([{ pool: 'p1', sr: 'sr-1' }])
    expect(formToInput({ ...form, kind: 'backup' }).targets).toBeUndefined()
    // A replication job without a target is refused before anything is sent.
    expect(formProblems({ ...form, targets: [] }).map((p) => p.path)).toContain('targets')
  })

  it('maps a mirror job (one source, its targets, every VM) onto the form and back', () => {
    const input = {
      name: 'Offsite',
      kind: 'mirror',
      vms: { smart: {} },
      repositories: ['r1'],
      mirrorTo: ['r2', 'r3'],
      schedules: [{ id: 's1', cron: '0 3 * * *', timezone: 'UTC', retention: { keepLast: 14 } }],
    }
    const checked = checkJobInput(input)
    if (!checked.ok) throw new Error(JSON.stringify(checked.problems))
    const stored = completeJob(checked.value, { id: 'j3', newScheduleId: () => 'new' })
    const form = jobToForm(stored)
    expect(form).toMatchObject({ kind: 'mirror', repositories: ['r1'], mirrorTo: ['r2', 'r3'] })
    const again = checkJobInput(formToInput(form))
    if (!again.ok) throw new Error(JSON.stringify(again.problems))
    expect(completeJob(again.value, { id: 'j3', newScheduleId: () => 'new' })).toEqual(stored)
  })

  it('sends mirror targets only for a mirror job, and finds a mirror without a target', () => {
    const form = { ...newJobForm(), name: 'x', kind: 'mirror' as const, repositories: ['r1'] }
    form.mirrorTo = ['r2']
    form.targets = [{ pool: 'p1', sr: 's' }]
    const input = formToInput(form)
    expect(input).toMatchObject({ repositories: ['r1'], mirrorTo: ['r2'] })
    expect(input.targets).toBeUndefined()
    // A mirror job made a backup: its targets are cleared (a PATCH keeps the fields it does not name).
    expect(formToInput({ ...form, kind: 'backup' }).mirrorTo).toEqual([])
    expect(formToInput({ ...form, kind: 'backup', mirrorTo: [] }).mirrorTo).toBeUndefined()
    expect(formProblems({ ...form, mirrorTo: [] }).map((p) => p.path)).toContain('mirrorTo')
    expect(formProblems({ ...form, mirrorTo: ['r1'] }).map((p) => p.path)).toContain('mirrorTo[0]')
  })

  it('sends a metadata job with its repositories and its pools, as the server takes it', () => {
    const form = { ...newJobForm(), name: 'Metadata', kind: 'metadata' as const, repositories: ['r1'] }
    form.vms = {
      smart: { ...(newJobForm().vms as { smart: object }).smart, pools: ['p1'] },
    } as typeof form.vms
    const input = formToInput(form)
    expect(input).toMatchObject({ kind: 'metadata', repositories: ['r1'], vms: { smart: { pools: ['p1'] } } })
    expect(input.targets).toBeUndefined()
    expect(formProblems(form)).toEqual([])
    expect(formProblems({ ...form, repositories: [] }).map((p) => p.path)).toContain('repositories')
  })

  it('starts a new job from the defaults the CLI uses too', () => {
    expect(newJobForm().settings).toEqual(SETTINGS_DEFAULTS)
    expect(newJobForm().settings.fullInterval).toBe(0)
  })

  it('finds with the contract what the server would refuse, before sending', () => {
    const form = newJobForm()
    form.name = 'x'
    form.repositories = ['r1']
    form.schedules[0]!.cron = '0 25 * * *'
    expect(formProblems(form)).toEqual([
      {
        path: 'schedules[0].cron',
        message: "'0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      },
    ])
  })

  it('sends tidy lists, leaves out cleared settings, and no retention when it keeps nothing', () => {
    const form = newJobForm()
    form.name = '  Nightly '
    form.repositories = ['r1']
    form.settings = { ...form.settings, timeout: '', maxBytesPerSecond: Number.NaN }
    form.vms = {
      smart: {
        pools: ['p1'],
        tags: ['prod', ' prod', ''],
        excludeVms: [' db '],
        excludeTags: [],
        includeRestored: true,
      },
    }
    form.schedules[0]!.retention = { keepLast: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }
    const input = formToInput(form)
    expect(input.name).toBe('Nightly')
    expect(input.settings).not.toHaveProperty('timeout')
    expect(input.settings).not.toHaveProperty('maxBytesPerSecond')
    expect(input.vms).toEqual({
      smart: { pools: ['p1'], tags: ['prod'], excludeVms: ['db'], excludeTags: [], includeRestored: true },
    })
    expect(input.schedules?.[0]).not.toHaveProperty('retention')
    expect(cleanSettings({ retries: 0 })).toEqual({ retries: 0 })
  })

  it('has an editor field for every setting of the contract', () => {
    expect(Object.keys(SETTING_FIELDS).sort()).toEqual(Object.keys(SETTINGS_DEFAULTS).sort())
  })

  it('summarises a selection in one line', () => {
    const smart = {
      pools: ['p1'],
      tags: ['prod'],
      powerState: 'Running' as const,
      excludeTags: ['tmp'],
      excludeVms: [],
      includeRestored: false,
    }
    expect(describeSelection({ smart }, (id) => (id === 'p1' ? 'lab' : id))).toBe(
      'Smart: lab · tags prod · Running · not tmp',
    )
    expect(describeSelection({ smart: { ...smart, includeRestored: true } })).toBe(
      'Smart: p1 · tags prod · Running · not tmp · restored VMs too',
    )
    expect(describeSelection({ uuids: ['a', 'b'] })).toBe('2 VMs')
    // By name where the pools know the VM; an entry they do not know, as stored.
    const vmName = (entry: string) => ({ 'u-web': 'web-01' })[entry]
    expect(describeSelection({ uuids: ['u-web', 'db-01'] }, undefined, vmName)).toBe('web-01, db-01')
    expect(describeSelection({ uuids: ['u-web', 'a', 'b', 'c'] }, undefined, vmName)).toBe(
      'web-01, a, b + 1 more',
    )
    expect(splitList('prod, web\nx,')).toEqual(['prod', 'web', 'x'])
  })
})
