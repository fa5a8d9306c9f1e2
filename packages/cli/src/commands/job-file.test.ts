// `strata backup run JOB.json` with a job that cannot be used: the same validator as the server and the
// UI, every problem at once with its path, the file named apart, and one exit status whatever the cause.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { EXIT_INVALID_JOB } from '../main.js'
import { runCli } from '../testing/cli-harness.js'
import { readJobFile } from './job-file.js'

const job = {
  id: 'nightly',
  // Nothing listens there: a job that got as far as running would fail to connect, never exit 3.
  pools: [{ id: 'lab', url: 'http://127.0.0.1:9' }],
  repositories: [{ name: 'local', location: '/nonexistent/repo' }],
  vms: ['web-01'],
}

describe('job files in the CLI', () => {
  let scratch: Scratch
  const file = async (name: string, content: unknown) => {
    const path = scratch.path(name)
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
    return path
  }
  const run = (path: string, ...more: string[]) =>
    runCli(['backup', 'run', path, '--data-dir', scratch.path('data'), ...more])

  beforeAll(async () => {
    scratch = await scratchDir('strata-cli-job-file-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses a cron expression the server and the UI refuse', async () => {
    const path = await file('cron.json', { ...job, schedules: [{ id: 'daily', cron: '0 25 * * *' }] })
    const { code, err } = await run(path)
    expect(code).toBe(EXIT_INVALID_JOB)
    expect(err.split('\n')).toEqual([
      `strata: [INVALID_JOB] job file '${path}' cannot be used (1 problem):`,
      "  schedules[0].cron: '0 25 * * *' is not a valid cron expression (Invalid value for hour: 25)",
      '',
    ])
  })

  it('lists every problem at once with its path and the nearest known field, also as JSON', async () => {
    const path = await file('typos.json', {
      ...job,
      vms: undefined,
      vm: ['web-01'],
      settings: { retires: 2 },
      schedules: [{ id: 'a', timezone: 'Mars/Base' }],
    })
    const { code, out } = await run(path, '--json')
    expect(code).toBe(EXIT_INVALID_JOB)
    expect(JSON.parse(out)).toEqual({
      error: {
        code: 'INVALID_JOB',
        message: `job file '${path}' cannot be used (4 problems):`,
        problems: [
          { path: 'vms', message: 'missing (required)' },
          { path: 'vm', message: "unknown field; did you mean 'vms'?" },
          { path: 'settings.retires', message: "unknown field; did you mean 'retries'?" },
          {
            path: 'schedules[0].timezone',
            message: "unknown time zone 'Mars/Base' (an IANA name such as 'Europe/Paris')",
          },
        ],
      },
    })
  })

  it('exits with the same status for a file that is missing or not JSON', async () => {
    const missing = await run(scratch.path('missing.json'))
    expect(missing.code).toBe(EXIT_INVALID_JOB)
    expect(missing.err).toMatch(
      /^strata: \[INVALID_JOB\] job file '.*missing\.json' cannot be used: cannot read it/,
    )
    const notJson = await run(await file('broken.json', '{"id": '))
    expect(notJson.code).toBe(EXIT_INVALID_JOB)
    expect(notJson.err).toMatch(/job file '.*broken\.json' cannot be used: it is not JSON/)
  })

  it('reads the old spellings with one warning each', async () => {
    const path = await file('old.json', {
      ...job,
      mode: 'full',
      vms: { excludeUuids: ['db-01'] },
      schedules: [{ id: 'daily', retention: { keep: 7 } }],
    })
    const warnings: string[] = []
    const parsed = await readJobFile(path, (line) => warnings.push(line))
    expect(parsed.settings.mode).toBe('full')
    expect(parsed.vms).toMatchObject({ excludeVms: ['db-01'] })
    expect(parsed.schedules[0]?.retention).toEqual({ keepLast: 7 })
    expect(warnings).toEqual([
      `job file '${path}': mode: deprecated: renamed 'settings.mode' (the old name is accepted until the next release)`,
      `job file '${path}': vms.excludeUuids: deprecated: renamed 'excludeVms' (the old name is accepted until the next release)`,
      `job file '${path}': schedules[0].retention.keep: deprecated: renamed 'keepLast' (the old name is accepted until the next release)`,
    ])
  })
})
