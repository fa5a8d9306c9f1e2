import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { decodeConfig, encodeConfig, type RepositoryConfig } from './format/config.js'
import { configFingerprint } from './format/seal.js'
import { retentionFrom } from './immutability.js'

const base: RepositoryConfig = {
  id: '0b4f3b52-0d43-4d0e-9a43-1f1f2a4b5c6d',
  chunkSize: 2 * 1024 * 1024,
  encryption: 'none',
  compressionLevel: 3,
  created: '2026-12-07T06:00:00.000Z',
}

describe('immutable repositories (without a server)', () => {
  it('refuses --immutable on a store without Object Lock, writing nothing', async () => {
    const store = new MemoryStore('plain')
    const immutable = { seconds: 60, mode: 'compliance' } as const
    await expect(Repository.create(store, { immutable })).rejects.toMatchObject({
      code: 'OBJECT_LOCK_REQUIRED',
      message: expect.stringContaining("'plain' cannot hold an immutable repository"),
    })
    for await (const info of store.list('')) expect.fail(`left '${info.key}'`)
  })

  it('records the policy in the config, and in its fingerprint only when set', () => {
    const immutable = { seconds: 30 * 86_400, mode: 'governance' } as const
    const locked = { ...base, immutable }
    expect(decodeConfig(encodeConfig(locked), 'config')).toEqual(locked)
    expect(decodeConfig(encodeConfig(base), 'config')).toEqual(base)
    expect(configFingerprint(locked)).not.toBe(configFingerprint(base))
    expect(configFingerprint({ ...locked, immutable: { ...immutable, mode: 'compliance' } })).not.toBe(
      configFingerprint(locked),
    )
  })

  it('refuses a config with a bad policy', () => {
    const bad = (immutable: unknown) =>
      new TextEncoder().encode(
        JSON.stringify({ format: 'strata-repository', version: 1, ...base, immutable }),
      )
    expect(() => decodeConfig(bad({ seconds: 60, mode: 'strict' }), 'config')).toThrow(/lock mode/)
    expect(() => decodeConfig(bad({ seconds: 0, mode: 'governance' }), 'config')).toThrow(/seconds/)
    expect(() => decodeConfig(bad('30d'), 'config')).toThrow(/immutable/)
  })

  it('dates a new object the period after now', () => {
    const r = retentionFrom({ seconds: 10, mode: 'compliance' }, 1_000)
    expect(r).toEqual({ mode: 'COMPLIANCE', until: new Date(11_000) })
    expect(retentionFrom({ seconds: 10, mode: 'governance' }).mode).toBe('GOVERNANCE')
  })
})
