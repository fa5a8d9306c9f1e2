import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { JobError, parseDuration, parseJob } from './job.js'

const base = {
  id: 'nightly',
  pools: [{ id: 'lab', url: 'http://127.0.0.1:8080', user: 'root' }],
  repositories: [{ name: 'local', location: '/tmp/repo' }],
  vms: ['web-01'],
}

describe('parseJob', () => {
  it('fills defaults for a minimal job', () => {
    const job = parseJob(base)
    expect(job.name).toBe('nightly')
    expect(job.vms).toEqual({ kind: 'explicit', vms: ['web-01'] })
    expect(job.settings).toMatchObject({
      mode: 'delta',
      vmConcurrency: 2,
      retries: 0,
      preferNbd: true,
      timeoutMs: 0,
    })
    expect(job.schedules).toEqual([])
  })

  it('reads smart rules, settings and schedules', () => {
    const job = parseJob({
      ...base,
      vms: {
        pools: ['lab'],
        tags: ['prod'],
        powerState: 'Running',
        excludeVms: ['db-01'],
        excludeTags: ['tmp'],
      },
      settings: {
        mode: 'full',
        fullInterval: 7,
        vmConcurrency: 0,
        timeout: '2h',
        retries: 3,
        nbdConnections: 4,
      },
      schedules: [{ id: 'daily', cron: '0 2 * * *', timezone: 'Europe/Paris', retention: { keepLast: 7 } }],
    })
    expect(job.vms).toEqual({
      kind: 'smart',
      pools: ['lab'],
      tags: ['prod'],
      powerState: 'Running',
      excludeVms: ['db-01'],
      excludeTags: ['tmp'],
    })
    expect(job.settings).toMatchObject({
      mode: 'full',
      fullInterval: 7,
      vmConcurrency: 0,
      timeoutMs: 7_200_000,
    })
    expect(job.schedules[0]).toMatchObject({ id: 'daily', snapshotRetention: 1, retention: { keepLast: 7 } })
  })

  it("carries a pool's name and whether restored VMs (and which tag marks them) are selected", () => {
    const job = parseJob({
      ...base,
      pools: [{ ...base.pools[0], name: 'Lab pool', insecureHttp: true }],
      vms: { tags: ['prod'], includeRestored: true, restoredTag: 'from backup' },
    })
    expect(job.pools[0]).toMatchObject({ id: 'lab', name: 'Lab pool' })
    expect(job.vms).toMatchObject({ kind: 'smart', includeRestored: true, restoredTag: 'from backup' })
    expect(parseJob({ ...base, vms: { tags: ['prod'] } }).vms).not.toHaveProperty('includeRestored')
    expect(() => parseJob({ ...base, vms: { includeRestored: 'yes' } })).toThrow(
      /vms.includeRestored: expected true or false/,
    )
  })

  it("reads a pool's fingerprint in any usual form, and its insecureHttp permission", () => {
    const hex = 'ab'.repeat(32)
    const job = parseJob({
      ...base,
      pools: [{ id: 'lab', url: 'https://xcp1', fingerprint: hex, insecureHttp: false }],
    })
    expect(job.pools[0]).toMatchObject({ fingerprint: 'AB:'.repeat(31) + 'AB', insecureHttp: false })
  })

  it.each([
    [{ ...base, pools: [] }, 'pools: needs at least 1 item'],
    [{ ...base, vms: [] }, 'vms: needs at least 1 item'],
    [{ ...base, vms: { pools: ['other'] } }, "vms.pools[0]: no pool 'other' in the job's pools (lab)"],
    [{ ...base, vms: { powerState: 'Paused' } }, 'vms.powerState: expected one of "Running", "Halted"'],
    [{ ...base, settings: { mode: 'incremental' } }, 'settings.mode: expected one of "delta", "full"'],
    [{ ...base, settings: { retires: 2 } }, "settings.retires: unknown field; did you mean 'retries'?"],
    [
      { ...base, settings: { offline: true, withMemory: true } },
      "'offline' and 'withMemory' exclude each other",
    ],
    [{ ...base, settings: { vmConcurrency: -1 } }, 'settings.vmConcurrency: at least 0, not -1'],
    [
      { ...base, schedules: [{ id: 'a', retention: { keepLast: 0 } }] },
      'schedules[0].retention: keeps nothing',
    ],
    [{ ...base, schedules: [{ id: 'a', timezone: 'Mars/Base' }] }, "unknown time zone 'Mars/Base'"],
    [{ ...base, schedules: [{ id: 'a' }, { id: 'a' }] }, "schedules[1].id: 'a' appears twice"],
    [{ ...base, pools: [{ id: 'lab', url: 'ftp://x' }] }, 'pools[0].url: expected http(s)://host[:port]'],
    [
      { ...base, pools: [{ id: 'lab', url: 'https://x', fingerprint: 'ab:cd' }] },
      'pools[0].fingerprint: expected a SHA-256 fingerprint',
    ],
    [
      { ...base, pools: [{ id: 'lab', url: 'http://x', insecureHttp: 'yes' }] },
      'pools[0].insecureHttp: expected true or false',
    ],
    [{ ...base, id: '../etc' }, "id: expected an id (letters, digits, '.', '_', '-'"],
    [
      { ...base, schedules: [{ id: 'a', cron: '0 25 * * *' }] },
      "schedules[0].cron: '0 25 * * *' is not a valid cron",
    ],
  ])('rejects invalid job %#', (job, message) => {
    expect(() => parseJob(job, 'nightly.json')).toThrow(JobError)
    expect(() => parseJob(job, 'nightly.json')).toThrow(message)
  })

  it('reports every problem at once, the file apart from the paths inside it', () => {
    const job = {
      ...base,
      vms: undefined,
      vm: ['web-01'],
      schedules: [{ id: 'daily', cron: '0 25 * * *' }],
    }
    const error = catchError(() => parseJob(job, 'jobs/nightly.json'))
    expect(error).toBeInstanceOf(JobError)
    expect(error.code).toBe('INVALID_JOB')
    expect(error.message).toBe(
      [
        'jobs/nightly.json cannot be used (3 problems):',
        '  vms: missing (required)',
        "  vm: unknown field; did you mean 'vms'?",
        "  schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      ].join('\n'),
    )
    expect(error.details).toEqual({
      source: 'jobs/nightly.json',
      problems: [
        { path: 'vms', message: 'missing (required)' },
        { path: 'vm', message: "unknown field; did you mean 'vms'?" },
        { path: 'schedules[0].cron', message: expect.stringContaining('not a valid cron') },
      ],
    })
  })

  it('accepts the old spellings, each with a warning', () => {
    const warnings: string[] = []
    const job = parseJob(
      {
        ...base,
        mode: 'full',
        vms: { excludeUuids: ['u1'] },
        schedules: [{ id: 'd', retention: { keep: 2 } }],
      },
      'job.json',
      { onWarning: (w) => warnings.push(w.path) },
    )
    expect(job.settings.mode).toBe('full')
    expect(job.vms).toMatchObject({ kind: 'smart', excludeVms: ['u1'] })
    expect(job.schedules[0]?.retention).toEqual({ keepLast: 2 })
    expect(warnings).toEqual(['mode', 'vms.excludeUuids', 'schedules[0].retention.keep'])
  })

  it("carries a pool's certificate fingerprint (in canonical form) and its permission for plain http", () => {
    const fingerprint = 'ab'.repeat(32)
    const job = parseJob({ ...base, pools: [{ ...base.pools[0], fingerprint, insecureHttp: true }] })
    expect(job.pools[0]).toEqual({
      ...base.pools[0],
      fingerprint: 'AB:'.repeat(31) + 'AB',
      insecureHttp: true,
    })
  })

  it.each([
    ['colon-separated pairs, lower case', `${'ab:'.repeat(31)}ab`],
    ["openssl's output", `sha256 Fingerprint=${'AB:'.repeat(31)}AB`],
    ["older openssl's output, with spaces around", ` SHA256 Fingerprint=${'ab'.repeat(32)}\n`],
  ])('normalises a fingerprint pasted as %s', (_, fingerprint) => {
    const job = parseJob({ ...base, pools: [{ ...base.pools[0], fingerprint }] })
    expect(job.pools[0]?.fingerprint).toBe('AB:'.repeat(31) + 'AB')
  })

  it('resolves the defaults of the contract', () => {
    expect(parseJob(base).settings).toEqual({
      mode: 'delta',
      fullInterval: 0,
      offline: false,
      withMemory: false,
      preferNbd: true,
      nbdConnections: 2,
      maxBytesPerSecond: undefined,
      vmConcurrency: 2,
      timeoutMs: 0,
      retries: 0,
      changedBlocks: 'auto',
    })
  })
})

function catchError(f: () => unknown): JobError {
  try {
    f()
  } catch (error) {
    return error as JobError
  }
  throw new Error('no error')
}

describe('parseDuration', () => {
  it('reads seconds and units', () => {
    expect(parseDuration(90, 't')).toBe(90_000)
    expect(parseDuration('30m', 't')).toBe(1_800_000)
    expect(parseDuration('1d', 't')).toBe(86_400_000)
    expect(() => parseDuration('soon', 't')).toThrow(/not a duration/)
  })
})

describe('the job file documented in docs/jobs.md', () => {
  it('is a valid job', async () => {
    const doc = await readFile(new URL('../../../../docs/jobs.md', import.meta.url), 'utf8')
    const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1]
    const job = parseJob(JSON.parse(example ?? 'null'), 'docs/jobs.md')
    expect(job.vms.kind).toBe('smart')
    expect(job.schedules.map((s) => s.id)).toEqual(['daily', 'weekly'])
  })
})
