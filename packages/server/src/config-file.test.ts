// The production config file: TOML or JSON named by --config or STRATA_CONFIG, its new fields (dataDir,
// tls, insecureHttp), paths relative to it, and the data directory's config.json still read as before.
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { loadConfig, readServerConfig } from './config.js'
import { MAX_CONFIG_BYTES } from './config-format.js'

describe('the config file', () => {
  let scratch: Scratch
  beforeEach(async () => {
    scratch = await scratchDir('strata-config-file-')
  })
  afterEach(async () => {
    await scratch[Symbol.asyncDispose]()
  })

  const toml = async (text: string, name = 'config.toml') => {
    const path = scratch.path(`etc/${name}`)
    await mkdir(scratch.path('etc'), { recursive: true })
    await writeFile(path, text)
    return path
  }

  it('reads TOML from --config, with paths relative to the file', async () => {
    const path = await toml(
      [
        'dataDir = "../var/strata"',
        'host = "0.0.0.0"',
        'port = 8443',
        'secretKeyFile = "keys/secret.key"',
        '[tls]',
        'cert = "tls/cert.pem"',
        'key = "/srv/key.pem"',
      ].join('\n'),
    )
    expect(readServerConfig({ configFile: path }, {})).toMatchObject({
      configFile: path,
      dataDir: scratch.path('var/strata'),
      host: '0.0.0.0',
      port: 8443,
      secretKeyFile: scratch.path('etc/keys/secret.key'),
      tls: { cert: scratch.path('etc/tls/cert.pem'), key: '/srv/key.pem' },
      insecureHttp: false,
    })
  })

  it('takes STRATA_CONFIG when no --config is given, and flags over the file', async () => {
    const path = await toml(`dataDir = "${scratch.path('d')}"\ntls = "self-signed"\ninsecureHttp = true\n`)
    const config = readServerConfig({}, { STRATA_CONFIG: path })
    expect(config).toMatchObject({ dataDir: scratch.path('d'), tls: 'self-signed', insecureHttp: true })
    const other = await toml('port = 1\n', 'other.toml')
    expect(readServerConfig({ configFile: other }, { STRATA_CONFIG: path }).port).toBe(1)
    expect(readServerConfig({ configFile: path, insecureHttp: false }, {}).insecureHttp).toBe(false)
    expect(readServerConfig({ configFile: path, dataDir: scratch.path('e') }, {}).dataDir).toBe(
      scratch.path('e'),
    )
  })

  it('reads a JSON file given with --config, and the data directory config.json without one', async () => {
    const json = await toml(JSON.stringify({ port: 9100, tls: 'self-signed' }), 'strata.json')
    expect(readServerConfig({ configFile: json, dataDir: scratch.path('d1') }, {})).toMatchObject({
      port: 9100,
      tls: 'self-signed',
    })
    const dataDir = scratch.path('d2')
    await mkdir(dataDir)
    await writeFile(`${dataDir}/config.json`, JSON.stringify({ port: 9200, insecureHttp: true }))
    expect(loadConfig({ dataDir }, {})).toMatchObject({
      port: 9200,
      insecureHttp: true,
      configFile: `${dataDir}/config.json`,
    })
  })

  it('refuses what it cannot read unambiguously, naming the file', async () => {
    const missing = scratch.path('etc/none.toml')
    expect(() => readServerConfig({ configFile: missing }, {})).toThrow(`${missing}: no such config file`)
    const bad = await toml('port = = 1\n')
    expect(() => readServerConfig({ configFile: bad }, {})).toThrow(new RegExp(`${bad}: not TOML`))
    const unknown = await toml('prot = 1\n', 'unknown.toml')
    expect(() => readServerConfig({ configFile: unknown }, {})).toThrow(/unknown field 'prot'/)
    const yaml = await toml('port: 1\n', 'config.yaml')
    expect(() => readServerConfig({ configFile: yaml }, {})).toThrow(/\.toml or \.json/)
    const huge = await toml(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`, 'huge.toml')
    expect(() => readServerConfig({ configFile: huge }, {})).toThrow(/larger than/)
  })

  it('reads trustProxy from the TOML file beside the fields of its own', async () => {
    const path = await toml(`host = "0.0.0.0"\ntrustProxy = ["10.0.0.5", "192.168.0.0/16"]\n`)
    expect(readServerConfig({ configFile: path }, {})).toMatchObject({
      trustProxy: ['10.0.0.5', '192.168.0.0/16'],
      insecureHttp: false,
    })
    const bad = await toml('trustProxy = ["proxy.lan"]\n', 'bad-proxy.toml')
    expect(() => readServerConfig({ configFile: bad }, {})).toThrow(/trustProxy is true, false or a list/)
  })

  it('refuses bad tls and insecureHttp values', async () => {
    const cases: [string, RegExp][] = [
      ['tls = "yes"', /tls is "self-signed" or a table with cert and key/],
      ['[tls]\ncert = "c.pem"', /tls is "self-signed" or a table with cert and key/],
      ['[tls]\ncert = "c.pem"\nkey = "k.pem"\nca = "x"', /unknown field 'tls.ca'/],
      ['insecureHttp = "yes"', /insecureHttp is true or false/],
      ['dataDir = 1', /dataDir is a path/],
      ['port = "8470"', /port is a number/],
    ]
    for (const [text, error] of cases) {
      const path = await toml(text)
      expect(() => readServerConfig({ configFile: path }, {}), text).toThrow(error)
    }
  })

  it('refuses two config files, and a config.json that moves its own data directory', async () => {
    const dataDir = scratch.path('data')
    await mkdir(dataDir)
    await writeFile(`${dataDir}/config.json`, '{}')
    const path = await toml(`dataDir = "${dataDir}"\n`)
    expect(() => readServerConfig({ configFile: path }, {})).toThrow(/two config files: .*keep one/)
    await writeFile(`${dataDir}/config.json`, JSON.stringify({ dataDir: '/elsewhere' }))
    expect(() => readServerConfig({ dataDir }, {})).toThrow(/dataDir belongs in the file given with --config/)
  })

  it('reads without touching the disk; loadConfig makes the directory and the key', async () => {
    const dataDir = scratch.path('fresh')
    const config = readServerConfig({ dataDir }, {})
    expect(config.secretKeyFile).toBe(`${dataDir}/secret.key`)
    expect(existsSync(dataDir)).toBe(false)
    expect(loadConfig({ dataDir }, {}).secretKey).toHaveLength(32)
    expect(existsSync(`${dataDir}/secret.key`)).toBe(true)
    expect(
      readServerConfig({ dataDir }, { STRATA_SECRET_KEY: 'ab'.repeat(32) }).secretKeyFile,
    ).toBeUndefined()
  })
})
