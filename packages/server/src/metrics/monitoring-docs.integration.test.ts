// The monitoring examples of docs/monitoring/ hold: the alert rules pass `promtool check rules` and
// their unit tests (`promtool test rules`: they fire on Strata's series, and not on a healthy server),
// every PromQL query of the Grafana dashboard parses, and every metric they name is one a real server
// exports.
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

const docs = fileURLToPath(new URL('../../../../docs/monitoring/', import.meta.url))

function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  const bin = requireBinary('promtool')
  return new Promise((resolve) => {
    execFile(bin, args, { cwd: docs }, (error, stdout, stderr) =>
      resolve({
        code: error === null ? 0 : ((error as { code?: number }).code ?? 1),
        output: stdout + stderr,
      }),
    )
  })
}

const metricNames = (text: string) => new Set(text.match(/\bstrata_[a-z_]+\b/g) ?? [])

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[]
}

describe('the monitoring examples in docs/', () => {
  let scratch: Scratch
  let server: RunningServer
  let exported: Set<string>

  beforeAll(async () => {
    scratch = await scratchDir('strata-monitoring-docs-')
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    const api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
    const text = (await api.get('/metrics')).body as string
    exported = new Set([...text.matchAll(/^# TYPE (strata_[a-z_]+) /gm)].map((m) => m[1]!))
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('has alert rules that promtool accepts and whose unit tests pass', async () => {
    expect(await promtool('check', 'rules', 'strata-alerts.yml')).toMatchObject({ code: 0 })
    const tested = await promtool('test', 'rules', 'strata-alerts.test.yml')
    expect(tested.output).toContain('SUCCESS')
    expect(tested.code).toBe(0)
  })

  it('names only metrics the server exports, in the rules and in the dashboard', async () => {
    expect(exported.size).toBeGreaterThan(10)
    for (const file of ['strata-alerts.yml', 'grafana-dashboard.json']) {
      const named = metricNames(await readFile(`${docs}${file}`, 'utf8'))
      expect(named.size, file).toBeGreaterThan(3)
      expect(
        [...named].filter((n) => !exported.has(n)),
        file,
      ).toEqual([])
    }
  })

  it('has a dashboard whose every query parses as PromQL', async () => {
    const dashboard = JSON.parse(await readFile(`${docs}grafana-dashboard.json`, 'utf8')) as Dashboard
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))
    expect(exprs.length).toBeGreaterThanOrEqual(10)
    // Each query as a recording rule, the dashboard's variable given a value, for promtool to parse.
    const rules = exprs
      .map(
        (e, i) => `      - record: dashboard:query_${i}\n        expr: '${e.replaceAll('$instance', '.*')}'`,
      )
      .join('\n')
    const file = scratch.path('dashboard-rules.yml')
    await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`)
    const checked = await promtool('check', 'rules', file)
    expect(checked.output).toContain(`SUCCESS: ${exprs.length} rules found`)
  })
})
