import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { CONFIG_FORMAT, CONFIG_VERSION, type ConfigExport } from './config-export.js'
import { parseConfig, restoreConfig } from './config-restore.js'

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))
const config: ConfigExport = {
  format: CONFIG_FORMAT,
  version: CONFIG_VERSION,
  exportedAt: new Date(0).toISOString(),
  pools: [{ id: 'pool-1', name: 'lab', url: 'https://10.0.0.1', username: 'root', insecureHttp: false }],
  repositories: [{ id: 'repo-1', name: 'local', location: '/srv/repo', encrypted: false }],
  jobs: [],
  users: [{ username: 'admin', role: 'admin' }],
  settings: { restoreTag: 'restored' },
}

describe('restoring a stored configuration', () => {
  let scratch: Scratch
  beforeEach(async () => void (scratch = await scratchDir()))
  afterEach(async () => scratch[Symbol.asyncDispose]())

  it('refuses what is not a configuration this version reads, saying why', () => {
    const what = 'the configuration in point p'
    expect(() => parseConfig(new TextEncoder().encode('{oops'), what)).toThrow(
      expect.objectContaining({ code: 'NOT_A_CONFIG', message: `${what} is not JSON` }),
    )
    expect(() => parseConfig(encode({ format: 'xo' }), what)).toThrow(
      expect.objectContaining({ code: 'NOT_A_CONFIG' }),
    )
    expect(() => parseConfig(encode({ ...config, version: 9 }), what)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    )
    expect(() => parseConfig(encode({ ...config, jobs: [{ id: 'j', name: 'x', vms: 3 }] }), what)).toThrow(
      expect.objectContaining({ code: 'NOT_A_CONFIG', message: expect.stringContaining('jobs[0]') }),
    )
    expect(() => parseConfig(encode({ ...config, users: [{ username: 'u', role: 'root' }] }), what)).toThrow(
      expect.objectContaining({ code: 'NOT_A_CONFIG', message: expect.stringContaining('users[0]') }),
    )
    expect(parseConfig(encode(config), what).pools).toEqual(config.pools)
  })

  it('refuses a non-empty data directory and touches nothing in it', async () => {
    const dir = scratch.path('used')
    mkdirSync(dir)
    writeFileSync(`${dir}/notes.txt`, 'mine')
    await expect(restoreConfig(config, { dataDir: dir })).rejects.toMatchObject({
      code: 'DATA_DIR_NOT_EMPTY',
    })
    expect(readdirSync(dir)).toEqual(['notes.txt'])
  })

  it('writes everything or nothing: a failure removes what it made', async () => {
    const dir = scratch.path('fresh')
    const clash = { ...config, pools: [config.pools[0]!, { ...config.pools[0]!, id: 'pool-2' }] }
    await expect(restoreConfig(clash, { dataDir: dir })).rejects.toThrow(/UNIQUE/)
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([])
    const restored = await restoreConfig(config, { dataDir: dir })
    expect(restored).toMatchObject({ pools: ['lab'], repositories: ['local'], jobs: [] })
    expect(restored.users[0]!.password).toMatch(/^[\w-]{16}$/)
  })
})
