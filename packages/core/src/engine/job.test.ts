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

  it("reads a pool's fingerprint in any usual form, and its insecureHttp permission", () => {
    const hex = 'ab'.repeat(32)
    const job = parseJob({
      ...base,
      pools: [{ id: 'lab', url: 'https://xcp1', fingerprint: hex, insecureHttp: false }],
    })
    expect(job.pools[0]).toMatchObject({ fingerprint: 'AB:'.repeat(31) + 'AB', insecureHttp: false })
  })

  it.each([
    [{ ...base, pools: [] }, /at least one pool/],
    [{ ...base, vms: [] }, /explicit list is empty/],
    [{ ...base, vms: { pools: ['other'] } }, /no pool 'other'/],
    [{ ...base, vms: { powerState: 'Paused' } }, /powerState/],
    [{ ...base, settings: { mode: 'incremental' } }, /settings.mode/],
    [{ ...base, settings: { retires: 2 } }, /unknown field 'retires'/],
    [{ ...base, settings: { offline: true, withMemory: true } }, /exclude each other/],
    [{ ...base, settings: { vmConcurrency: -1 } }, /vmConcurrency/],
    [{ ...base, schedules: [{ id: 'a', retention: { keepLast: 0 } }] }, /keeps nothing/],
    [{ ...base, schedules: [{ id: 'a', timezone: 'Mars/Base' }] }, /unknown time zone/],
    [{ ...base, schedules: [{ id: 'a' }, { id: 'a' }] }, /'a' appears twice/],
    [{ ...base, pools: [{ id: 'lab', url: 'ftp://x' }] }, /not http/],
    [{ ...base, pools: [{ id: 'lab', url: 'https://x', fingerprint: 'ab:cd' }] }, /pools\[0\].fingerprint/],
    [
      { ...base, pools: [{ id: 'lab', url: 'http://x', insecureHttp: 'yes' }] },
      /insecureHttp: true or false/,
    ],
    [{ ...base, id: '../etc' }, /letters, digits/],
  ])('rejects invalid job %#', (job, message) => {
    expect(() => parseJob(job)).toThrow(JobError)
    expect(() => parseJob(job)).toThrow(message)
  })
})

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
