// /metrics scraped as Prometheus would, against a server that runs real lab backups: the text checked
// by Debian's `promtool check metrics` and parsed here, the last-success metrics moving after a run and
// not after a failure, repository usage from the samples, the pool's connection; the API's /metrics
// private, the separate metrics address open; and the statistics the UI's charts read.
import { execFile } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { ApiClient } from '../testing/api-client.js'
import { startLabJob, until, type LabJob } from '../testing/lab-job.js'
import { parsePrometheusText, sampleValue, type PromSample } from '../testing/prometheus-text.js'

function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const bin = requireBinary('promtool')
  return new Promise((resolve) => {
    const child = execFile(bin, ['check', 'metrics'], (error, stdout, stderr) =>
      resolve({
        code: error === null ? 0 : ((error as { code?: number }).code ?? 1),
        output: stdout + stderr,
      }),
    )
    child.stdin!.end(text)
  })
}

describe('metrics', { timeout: 180_000 }, () => {
  let t: LabJob
  let tokenApi: ApiClient

  const scrape = async (): Promise<PromSample[]> => {
    const response = await tokenApi.get('/metrics')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return parsePrometheusText(response.body as string)
  }
  const job = { job_name: 'Nightly' }

  beforeAll(async () => {
    t = await startLabJob('metrics', {
      server: { metrics: { listen: '127.0.0.1:0' }, reporting: { sampleAfterRunMs: 50 } },
    })
    const token = await t.api.post('/api/me/tokens', { name: 'prometheus' })
    tokenApi = new ApiClient(t.server.url, token.body.token)
  }, 180_000)
  afterAll(async () => {
    await t?.close()
  })

  it('answers /metrics to a token or a session only, and to anyone on the metrics address', async () => {
    expect((await new ApiClient(t.server.url).get('/metrics')).status).toBe(401)
    expect((await t.api.get('/metrics')).status).toBe(200)
    const open = t.server.context.reporting.metricsUrl!
    expect(open).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const anonymous = await fetch(open)
    expect(anonymous.status).toBe(200)
    expect(await anonymous.text()).toContain('strata_pool_connected{pool="lab"')
    expect((await fetch(open.replace('/metrics', '/api/jobs'))).status).toBe(404)
    expect((await fetch(open, { method: 'POST' })).status).toBe(405)
  })

  it('passes promtool, and the last-success metrics change after a run but not after a failure', async () => {
    const before = await scrape()
    expect(sampleValue(before, 'strata_pool_connected', { pool: 'lab' })).toBe(1)
    expect(
      sampleValue(before, 'strata_vm_last_success_timestamp_seconds', { ...job, vm: 'web-a' }),
    ).toBeUndefined()
    expect(sampleValue(before, 'strata_scheduler_lag_seconds')).toBeGreaterThanOrEqual(0)

    const first = await t.run()
    expect(first.status).toBe('success')
    const afterFirst = await until('the stats of the run', async () => {
      const s = await scrape()
      return sampleValue(s, 'strata_vm_last_success_timestamp_seconds', { ...job, vm: 'web-a' }) === undefined
        ? undefined
        : s
    })
    const firstSuccess = sampleValue(afterFirst, 'strata_vm_last_success_timestamp_seconds', {
      ...job,
      vm: 'web-a',
    })!
    expect(firstSuccess).toBeCloseTo(first.end / 1000, 3)
    expect(sampleValue(afterFirst, 'strata_job_last_success_timestamp_seconds', job)).toBeCloseTo(
      first.end / 1000,
      3,
    )
    expect(sampleValue(afterFirst, 'strata_runs_total', { ...job, state: 'success' })).toBe(1)
    expect(sampleValue(afterFirst, 'strata_backup_read_bytes_total', job)).toBeGreaterThan(0)
    expect(sampleValue(afterFirst, 'strata_job_last_run_failed', job)).toBe(0)
    expect(sampleValue(afterFirst, 'strata_job_last_run_duration_seconds', job)).toBeGreaterThan(0)

    t.lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space left', ''], 1)
    const failed = await t.run()
    t.lab.faults.clear()
    expect(failed.status).toBe('failure')
    const afterFailure = await until('the failure', async () => {
      const s = await scrape()
      return sampleValue(s, 'strata_job_last_run_failed', job) === 1 ? s : undefined
    })
    expect(
      sampleValue(afterFailure, 'strata_vm_last_success_timestamp_seconds', { ...job, vm: 'web-a' }),
    ).toBe(firstSuccess)
    expect(sampleValue(afterFailure, 'strata_runs_total', { ...job, state: 'failure' })).toBe(1)

    const second = await t.run()
    expect(second.status).toBe('success')
    const afterSecond = await until('the second success', async () => {
      const s = await scrape()
      const v = sampleValue(s, 'strata_vm_last_success_timestamp_seconds', { ...job, vm: 'web-a' })
      return v !== undefined && v > firstSuccess ? s : undefined
    })
    expect(
      sampleValue(afterSecond, 'strata_vm_last_success_timestamp_seconds', { ...job, vm: 'web-a' }),
    ).toBeCloseTo(second.end / 1000, 3)
    expect(sampleValue(afterSecond, 'strata_runs_total', { ...job, state: 'success' })).toBe(2)
    // Prometheus sets `job` and `instance` on every series it scrapes (and renames an exported `job` to
    // `exported_job`): Strata's series never carry them, so alert rules can name the job's label.
    const clashing = afterSecond.filter((s) => 'job' in s.labels || 'instance' in s.labels)
    expect(clashing.map((s) => s.name)).toEqual([])

    // Strata's own metrics pass promtool's checks clean; the whole text parses, and its only remarks are
    // about three of prom-client's default Node.js gauges, named with a '_total' they should not have.
    const text = (await tokenApi.get('/metrics')).body as string
    const ours = text
      .split('\n')
      .filter((l) => /^(# (HELP|TYPE) )?strata_/.test(l))
      .join('\n')
    expect(await promtoolCheck(`${ours}\n`)).toEqual({ code: 0, output: '' })
    const all = await promtoolCheck(text)
    expect(all.output.trim().split('\n').sort()).toEqual(
      ['handles', 'requests', 'resources'].map(
        (n) => `nodejs_active_${n}_total non-counter metrics should not have "_total" suffix`,
      ),
    )
  })

  it('reports repository usage from the samples, and serves the statistics the charts draw', async () => {
    const samples = await until('a usage sample', async () => {
      const s = await scrape()
      return (sampleValue(s, 'strata_repository_stored_bytes', { repository: 'local' }) ?? 0) > 0
        ? s
        : undefined
    })
    const stored = sampleValue(samples, 'strata_repository_stored_bytes', { repository: 'local' })!
    const logical = sampleValue(samples, 'strata_repository_logical_bytes', { repository: 'local' })!
    expect(logical).toBeGreaterThan(0)
    expect(sampleValue(samples, 'strata_repository_dedup_ratio', { repository: 'local' })).toBeCloseTo(
      logical / stored,
      6,
    )
    expect(sampleValue(samples, 'strata_repository_points', { repository: 'local' })).toBeGreaterThanOrEqual(
      1,
    )

    const runs = (await t.api.get('/api/stats/runs?days=7')).body as { status: string; bytesRead?: number }[]
    expect(runs.map((r) => r.status)).toEqual(['success', 'failure', 'success'])
    expect(runs[0]!.bytesRead).toBeGreaterThan(0)
    const usage = (await t.api.get(`/api/stats/usage?repository=${t.repositoryId}`)).body
    expect(usage).toEqual([expect.objectContaining({ name: 'local', samples: expect.any(Array) })])
    expect(usage[0].samples.at(-1)).toMatchObject({
      storedBytes: expect.any(Number),
      logicalBytes: expect.any(Number),
    })
    expect((await t.api.get('/api/stats/runs?days=400')).status).toBe(400)
    expect((await t.api.get('/api/stats/usage?repository=nope')).status).toBe(404)
  })
})
