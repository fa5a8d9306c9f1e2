// The metrics address in the production config file (`[metrics] listen`): read from TOML, refused when
// it is not host:port, and shown by `strata server --check-config` with a warning off loopback (the
// address answers without authentication).
import { mkdir, writeFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { checkConfig } from '../check-config.js'
import { ConfigError, readServerConfig } from '../config.js'

describe('the metrics address in the config file', () => {
  let scratch: Scratch
  beforeEach(async () => {
    scratch = await scratchDir('strata-metrics-config-')
    await mkdir(scratch.path('etc'), { recursive: true })
  })
  afterEach(async () => {
    await scratch[Symbol.asyncDispose]()
  })

  const toml = async (...lines: string[]) => {
    const path = scratch.path('etc/config.toml')
    await writeFile(path, [`dataDir = "${scratch.path('data')}"`, ...lines].join('\n'), { mode: 0o640 })
    return path
  }
  const metricsFinding = (path: string) =>
    checkConfig({ configFile: path }, {}).findings.find((f) => f.what === 'metrics')

  it('reads [metrics] listen, IPv6 included, and is off without it', async () => {
    const v4 = await toml('[metrics]', 'listen = "127.0.0.1:9470"')
    expect(readServerConfig({ configFile: v4 }, {}).metrics).toEqual({
      listen: { host: '127.0.0.1', port: 9470 },
    })
    const v6 = await toml('[metrics]', 'listen = "[::1]:9470"')
    expect(readServerConfig({ configFile: v6 }, {}).metrics).toEqual({ listen: { host: '::1', port: 9470 } })
    const none = await toml()
    expect(readServerConfig({ configFile: none }, {}).metrics).toBeUndefined()
    expect(metricsFinding(none)).toMatchObject({ status: 'ok', detail: expect.stringContaining('API token') })
  })

  it('refuses an address that is not host:port, and a [metrics] table with other keys', async () => {
    for (const listen of ['9470', 'host:', 'host:70000', 'a b:1', 'http://h:1']) {
      const path = await toml('[metrics]', `listen = "${listen}"`)
      expect(() => readServerConfig({ configFile: path }, {}), listen).toThrow(ConfigError)
      expect(() => checkConfig({ configFile: path }, {}), listen).toThrow(/metrics\.listen/)
    }
    const extra = await toml('[metrics]', 'listen = "127.0.0.1:9470"', 'token = "x"')
    expect(() => readServerConfig({ configFile: extra }, {})).toThrow(/metrics is \{ listen = "host:port" \}/)
  })

  it('says in --check-config that the address answers anyone, with a warning off loopback', async () => {
    expect(metricsFinding(await toml('[metrics]', 'listen = "127.0.0.1:9470"'))).toEqual({
      status: 'ok',
      what: 'metrics',
      detail: 'GET /metrics without authentication on 127.0.0.1:9470 (loopback)',
    })
    expect(metricsFinding(await toml('[metrics]', 'listen = "0.0.0.0:9470"'))).toEqual({
      status: 'warning',
      what: 'metrics',
      detail:
        'GET /metrics without authentication on 0.0.0.0:9470: anyone who reaches it reads the names of ' +
        'jobs, VMs, pools and repositories (limit it with a firewall, or use an API token on the API)',
    })
  })
})
