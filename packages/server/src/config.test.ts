import { statSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { DEFAULT_PORT, loadConfig } from './config.js'

describe('loadConfig', () => {
  let scratch: Scratch
  beforeEach(async () => {
    scratch = await scratchDir('strata-config-')
  })
  afterEach(async () => {
    await scratch[Symbol.asyncDispose]()
  })

  it('generates a key file readable by its owner only, and reuses it', () => {
    const dataDir = scratch.path('data')
    const first = loadConfig({ dataDir }, {})
    expect(first.port).toBe(DEFAULT_PORT)
    expect(statSync(`${dataDir}/secret.key`).mode & 0o777).toBe(0o600)
    expect(loadConfig({ dataDir }, {}).secretKey.equals(first.secretKey)).toBe(true)
  })

  it('takes the config file, then the environment, then overrides', async () => {
    const dataDir = scratch.path('data')
    loadConfig({ dataDir }, {})
    await writeFile(`${dataDir}/config.json`, JSON.stringify({ port: 9000, host: '0.0.0.0' }))
    expect(loadConfig({ dataDir }, {})).toMatchObject({ port: 9000, host: '0.0.0.0' })
    expect(loadConfig({ dataDir }, { STRATA_PORT: '9001' }).port).toBe(9001)
    expect(loadConfig({ dataDir, port: 0 }, { STRATA_PORT: '9001' }).port).toBe(0)
    const key = 'ab'.repeat(32)
    expect(loadConfig({ dataDir }, { STRATA_SECRET_KEY: key }).secretKey.toString('hex')).toBe(key)
  })

  it('refuses bad values with a message naming them', async () => {
    const dataDir = scratch.path('data')
    expect(() => loadConfig({ dataDir }, { STRATA_SECRET_KEY: 'short' })).toThrow(
      /STRATA_SECRET_KEY: 64 hex digits/,
    )
    expect(() => loadConfig({ dataDir }, { STRATA_PORT: 'http' })).toThrow(
      /STRATA_PORT: 'http' is not a number/,
    )
    await writeFile(`${dataDir}/config.json`, JSON.stringify({ prot: 1 }))
    expect(() => loadConfig({ dataDir }, {})).toThrow(/unknown field 'prot'/)
    for (const trustProxy of ['yes', ['10.0.0.1; rm -rf /'], [1]]) {
      await writeFile(`${dataDir}/config.json`, JSON.stringify({ trustProxy }))
      expect(() => loadConfig({ dataDir }, {})).toThrow(/trustProxy is true, false or a list/)
    }
  })

  it('trusts no proxy unless the config file names them', async () => {
    const dataDir = scratch.path('data')
    expect(loadConfig({ dataDir }, {}).trustProxy).toBe(false)
    loadConfig({ dataDir }, {})
    await writeFile(`${dataDir}/config.json`, JSON.stringify({ trustProxy: ['10.0.0.1', '192.168.0.0/16'] }))
    expect(loadConfig({ dataDir }, {}).trustProxy).toEqual(['10.0.0.1', '192.168.0.0/16'])
    expect(loadConfig({ dataDir, trustProxy: true }, {}).trustProxy).toBe(true)
  })
})
