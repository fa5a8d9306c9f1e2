import { describe, expect, it } from 'vitest'
import { completeJob } from './complete-job.js'
import { SETTINGS_DEFAULTS } from './job-parts.js'
import { formatProblem } from './problems.js'
import { checkJobFile, checkJobInput, checkJobPatch, type Checked } from './validate.js'

const file = {
  id: 'nightly',
  pools: [{ id: 'lab', url: 'https://10.0.0.1' }],
  repositories: [{ name: 'local', location: '/srv/repo' }],
  vms: ['web-01'],
}
const input = { name: 'Nightly', vms: { smart: { tags: ['prod'] } }, repositories: ['r1'] }

const problems = (r: Checked<unknown>) => (r.ok ? [] : r.problems.map(formatProblem))
const warnings = (r: Checked<unknown>) => r.warnings.map(formatProblem)

describe('checkJobFile', () => {
  it('accepts a minimal job and the two pool fields of TLS pinning', () => {
    expect(checkJobFile(file)).toMatchObject({ ok: true, warnings: [] })
    const pinned = {
      ...file,
      pools: [{ id: 'lab', url: 'http://10.0.0.1', fingerprint: 'ab'.repeat(32), insecureHttp: true }],
    }
    expect(checkJobFile(pinned).ok).toBe(true)
    const colons = Array.from({ length: 32 }, () => 'AB').join(':')
    expect(checkJobFile({ ...file, pools: [{ ...file.pools[0], fingerprint: colons }] }).ok).toBe(true)
    expect(problems(checkJobFile({ ...file, pools: [{ ...file.pools[0], fingerprint: 'ab' }] }))).toEqual([
      'pools[0].fingerprint: expected a SHA-256 fingerprint: 64 hex digits, bare or in colon-separated pairs, not "ab"',
    ])
    expect(problems(checkJobFile({ ...file, pools: [{ ...file.pools[0], insecureHttp: 'yes' }] }))).toEqual([
      'pools[0].insecureHttp: expected true or false, not "yes"',
    ])
  })

  it('accepts a fingerprint as openssl prints it on the host, and nothing around 64 hex digits but that', () => {
    const fingerprint = (value: string) =>
      checkJobFile({ ...file, pools: [{ ...file.pools[0], fingerprint: value }] })
    const colons = Array.from({ length: 32 }, () => 'ab').join(':')
    for (const pasted of [
      `sha256 Fingerprint=${colons}`,
      `SHA256 Fingerprint=${colons.toUpperCase()}\n`,
      ` ${'AB'.repeat(32)} `,
    ])
      expect(fingerprint(pasted).ok).toBe(true)
    for (const wrong of [
      `md5 Fingerprint=${colons}`,
      `${colons}:ab`,
      `Fingerprint=${'ab'.repeat(31)}`,
      `${colons}x`,
    ])
      expect(problems(fingerprint(wrong))).toEqual([
        expect.stringMatching(/^pools\[0\]\.fingerprint: expected a SHA-256/),
      ])
  })

  it("accepts a pool's name and the smart rules of restored VMs (includeRestored, restoredTag)", () => {
    const job = {
      ...file,
      pools: [{ ...file.pools[0], name: 'Lab pool' }],
      vms: { tags: ['prod'], includeRestored: true, restoredTag: 'from backup' },
    }
    expect(checkJobFile(job)).toMatchObject({ ok: true, warnings: [] })
    expect(problems(checkJobFile({ ...file, vms: { includeRestored: 1 } }))).toEqual([
      'vms.includeRestored: expected true or false, not 1',
    ])
  })

  it('refuses a cron expression that croner refuses, and one that never comes due', () => {
    const job = {
      ...file,
      schedules: [
        { id: 'a', cron: '0 25 * * *' },
        { id: 'b', cron: '0 2 30 2 *' },
      ],
    }
    expect(problems(checkJobFile(job))).toEqual([
      "schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      "schedules[1].cron: '0 2 30 2 *' never comes due",
    ])
  })

  it('reports every problem at once, each with its path, and the nearest known name of an unknown field', () => {
    const job = {
      ...file,
      vms: undefined,
      vm: ['web-01'],
      settings: { retires: 2, mode: 'incremental', timeout: 'soon', offline: true, withMemory: true },
      schedules: [
        { id: 'a', cron: '0 25 * * *' },
        { id: 'a', timezone: 'Mars/Base', retention: { keepLast: 0 } },
      ],
    }
    expect(problems(checkJobFile(job))).toEqual([
      'vms: missing (required)',
      "vm: unknown field; did you mean 'vms'?",
      "settings.retires: unknown field; did you mean 'retries'?",
      'settings.mode: expected one of "delta", "full", not "incremental"',
      `settings.timeout: expected a duration: seconds, or '90s', '30m', '6h', '1d', not "soon"`,
      "schedules[1].id: 'a' appears twice",
      "schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      "schedules[1].timezone: unknown time zone 'Mars/Base' (an IANA name such as 'Europe/Paris')",
      'schedules[1].retention: keeps nothing: give keepLast or a period above 0 (or no retention to keep everything)',
      "settings: 'offline' and 'withMemory' exclude each other (a halted VM has no memory)",
    ])
  })

  it.each([
    [{ ...file, pools: [] }, 'pools: needs at least 1 item'],
    [{ ...file, vms: [] }, 'vms: needs at least 1 item'],
    [
      { ...file, vms: 'web' },
      'vms: expected a list of VM names or uuids, or smart rules (an object), not "web"',
    ],
    [{ ...file, vms: { pools: ['other'] } }, "vms.pools[0]: no pool 'other' in the job's pools (lab)"],
    [
      { ...file, vms: { powerState: 'Paused' } },
      'vms.powerState: expected one of "Running", "Halted", not "Paused"',
    ],
    [{ ...file, settings: { vmConcurrency: -1 } }, 'settings.vmConcurrency: at least 0, not -1'],
    [{ ...file, settings: { nbdConnections: 0 } }, 'settings.nbdConnections: at least 1, not 0'],
    [
      { ...file, pools: [{ id: 'lab', url: 'ftp://x' }] },
      'pools[0].url: expected http(s)://host[:port], with nothing after, not "ftp://x"',
    ],
    [
      { ...file, id: '../etc' },
      `id: expected an id (letters, digits, '.', '_', '-', starting with a letter or digit), not "../etc"`,
    ],
    [
      { ...file, repositories: [file.repositories[0], file.repositories[0]] },
      "repositories[1].name: 'local' appears twice",
    ],
    [42, 'expected an object, not 42'],
  ])('refuses invalid job %#', (job, message) => {
    expect(problems(checkJobFile(job))).toEqual([message])
  })

  it('accepts the old spellings with a warning each, renamed', () => {
    const job = {
      ...file,
      mode: 'full',
      vms: { excludeUuids: ['db-01'] },
      schedules: [{ id: 'daily', retention: { keep: 7 } }],
    }
    const r = checkJobFile(job)
    expect(r.ok && r.value).toMatchObject({
      settings: { mode: 'full' },
      vms: { excludeVms: ['db-01'] },
      schedules: [{ retention: { keepLast: 7 } }],
    })
    expect(warnings(r)).toEqual([
      "mode: deprecated: renamed 'settings.mode' (the old name is accepted until the next release)",
      "vms.excludeUuids: deprecated: renamed 'excludeVms' (the old name is accepted until the next release)",
      "schedules[0].retention.keep: deprecated: renamed 'keepLast' (the old name is accepted until the next release)",
    ])
    expect(job).toHaveProperty('mode', 'full') // the caller's value is not changed
  })

  it('refuses an old and a new spelling of the same field together', () => {
    const job = { ...file, schedules: [{ id: 'daily', retention: { keep: 7, keepLast: 3 } }] }
    expect(problems(checkJobFile(job))).toEqual([
      "schedules[0].retention.keep: renamed 'keepLast', which is also given: keep only 'keepLast'",
    ])
  })
})

describe('checkJobInput', () => {
  it('accepts a job with the new names and no warning', () => {
    const job = {
      ...input,
      settings: { mode: 'full' },
      schedules: [{ cron: '0 2 * * *', retention: { keepLast: 3 } }],
    }
    expect(checkJobInput(job)).toMatchObject({ ok: true, warnings: [] })
  })

  it("takes includeRestored in smart rules, but no restoredTag (the server's restoreTag setting)", () => {
    const smart = (rules: object) => checkJobInput({ ...input, vms: { smart: { tags: ['prod'], ...rules } } })
    expect(smart({ includeRestored: true })).toMatchObject({ ok: true, warnings: [] })
    expect(problems(smart({ restoredTag: 'x' }))).toEqual([expect.stringMatching(/^vms: expected /)])
  })

  it('accepts the old names of one release ago with a warning each', () => {
    const job = {
      ...input,
      mode: 'full',
      vms: { smart: { excludeUuids: ['u1'] } },
      schedules: [{ cron: '0 2 * * *', retention: { keep: 3 } }],
    }
    const r = checkJobInput(job)
    expect(r.ok && r.value).toMatchObject({
      settings: { mode: 'full' },
      vms: { smart: { excludeVms: ['u1'] } },
      schedules: [{ retention: { keepLast: 3 } }],
    })
    expect(warnings(r)).toHaveLength(3)
    expect(warnings(r)[1]).toMatch(/^vms\.smart\.excludeUuids: deprecated: renamed 'excludeVms'/)
  })

  it('refuses what the CLI refuses: the same validator', () => {
    const job = {
      ...input,
      schedules: [{ cron: '0 25 * * *' }, { cron: '0 2 * * *', timezone: 'Mars/Base' }],
    }
    expect(problems(checkJobInput(job))).toEqual([
      "schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      "schedules[1].timezone: unknown time zone 'Mars/Base' (an IANA name such as 'Europe/Paris')",
    ])
    expect(problems(checkJobInput({ ...input, repositories: ['r1', 'r1'] }))).toEqual([
      "repositories[1]: 'r1' appears twice",
    ])
    expect(problems(checkJobInput({ ...input, schedules: [{}] }))).toEqual([
      'schedules[0].cron: missing (required)',
    ])
  })
})

describe('checkJobPatch', () => {
  const stored = completeJob(checkJobInputValue(input), { id: 'j1', newScheduleId: () => 's1' })

  it('changes the mode alone with the old top-level name, keeping the other settings', () => {
    const before = { ...stored, settings: { ...stored.settings, retries: 3 } }
    const r = checkJobPatch({ mode: 'full' }, before)
    expect(r.ok && r.value.settings).toEqual({ ...before.settings, mode: 'full' })
    expect(warnings(r)).toHaveLength(1)
  })

  it('checks the job the patch makes', () => {
    expect(problems(checkJobPatch({ schedules: [{ cron: '0 25 * * *' }] }, stored))).toEqual([
      "schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
    ])
    expect(problems(checkJobPatch({ nmae: 'x' }, stored))).toEqual([
      "nmae: unknown field; did you mean 'name'?",
    ])
  })
})

describe('completeJob', () => {
  it("keeps a job's report policy and refuses one it does not know", () => {
    const job = completeJob(checkJobInputValue({ ...input, report: 'never' }), {
      id: 'j1',
      newScheduleId: () => 's1',
    })
    expect(job.report).toBe('never')
    const bad = checkJobInput({ ...input, report: 'sometimes' })
    expect(bad.ok).toBe(false)
    expect(bad.ok ? [] : bad.problems.map((p) => p.path)).toContain('report')
  })

  it('writes every default out, from the one table of defaults', () => {
    const job = completeJob(checkJobInputValue({ ...input, schedules: [{ cron: ' 0 2 * * * ' }] }), {
      id: 'j1',
      newScheduleId: () => 's1',
    })
    expect(job).toEqual({
      id: 'j1',
      name: 'Nightly',
      enabled: true,
      kind: 'backup',
      vms: { smart: { pools: [], tags: ['prod'], excludeVms: [], excludeTags: [], includeRestored: false } },
      repositories: ['r1'],
      targets: [],
      settings: SETTINGS_DEFAULTS,
      schedules: [{ id: 's1', cron: '0 2 * * *', timezone: 'UTC', enabled: true, forceFull: false }],
      report: 'default',
    })
    expect(SETTINGS_DEFAULTS).toMatchObject({ fullInterval: 0, preferNbd: true, nbdConnections: 2 })
  })
})

function checkJobInputValue(value: unknown) {
  const r = checkJobInput(value)
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'))
  return r.value
}
