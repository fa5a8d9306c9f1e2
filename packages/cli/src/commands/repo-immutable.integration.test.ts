// `strata repo init --immutable 30d [--lock-mode ...]` on radosgw: a bucket without Object Lock is refused
// with a clear error, and on one with it, `repo forget` refuses a point before its date (by id) or keeps
// it with a note (by retention), and `repo info` counts the locked points and bytes.
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTestBucket,
  requireBinary,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { repoBackupImage } from './repo-backup-image.js'
import { repoForget } from './repo-forget.js'
import { repoInfo } from './repo-info.js'
import { parseImmutable, repoInit } from './repo-init.js'
import { runRepoCommand } from '../testing/repo-commands.js'

requireBinary('radosgw')
const server = useS3Server()
let scratch: Scratch

beforeAll(async () => {
  scratch = await scratchDir()
  for (const [k, v] of Object.entries(s3Env(server))) process.env[k] = v
  delete process.env.STRATA_PASSPHRASE
})
afterAll(async () => {
  await scratch[Symbol.asyncDispose]()
})

describe('strata repo init --immutable', () => {
  it('parses exactly --immutable Nd and --lock-mode governance|compliance', () => {
    expect(parseImmutable('30d', undefined)).toEqual({ seconds: 30 * 86_400, mode: 'governance' })
    expect(parseImmutable('7d', 'compliance')).toEqual({ seconds: 7 * 86_400, mode: 'compliance' })
    expect(parseImmutable(undefined, undefined)).toBeUndefined()
    for (const bad of ['30', '0d', '-1d', '30h', '1.5d', '36501d', ''])
      expect(() => parseImmutable(bad, undefined), bad).toThrow(/--immutable/)
    expect(() => parseImmutable('30d', 'strict')).toThrow(/--lock-mode/)
    expect(() => parseImmutable(undefined, 'compliance')).toThrow(/needs --immutable/)
  })

  it('refuses a bucket without Object Lock with a clear error', async () => {
    const repo = s3Location(server, await createTestBucket(server, 'strata-nolock'), 'r')
    await expect(runRepoCommand(repoInit, [], { repo, immutable: '30d' })).rejects.toMatchObject({
      code: 'OBJECT_LOCK_REQUIRED',
      message: expect.stringContaining('does not have Object Lock enabled'),
    })
  })

  it('keeps points before their date: forget refuses, retention notes, info counts', async () => {
    const repo = s3Location(server, await createTestBucket(server, 'strata-lock', { objectLock: true }), 'r')
    const init = await runRepoCommand(repoInit, [], { repo, immutable: '1d', 'lock-mode': 'governance' })
    expect(init.result.immutable).toEqual({ seconds: 86_400, mode: 'governance' })
    const image = scratch.path('disk.raw')
    await writeFile(image, randomBytes(3 * 1024 * 1024))
    const first = (await runRepoCommand(repoBackupImage, [image], { repo, vm: 'vm-1' })).result.point
    await runRepoCommand(repoBackupImage, [image], { repo, vm: 'vm-1' })

    await expect(runRepoCommand(repoForget, [first], { repo })).rejects.toMatchObject({
      code: 'POINT_LOCKED',
      message: expect.stringMatching(/retained until 20\d\d-/),
    })
    const policy = await runRepoCommand(repoForget, [], { repo, 'keep-last': '1' })
    expect(policy.result.removed).toEqual([])
    expect(policy.result.kept.find((k) => k.ref === first)?.reasons[0]).toMatch(/^locked until 20\d\d-/)

    const info = (await runRepoCommand(repoInfo, [], { repo })).result
    expect(info.locked).toMatchObject({ points: 2, chunks: info.chunks })
    expect(info.locked!.bytes).toBe(info.chunkBytes)
    expect(repoInfo.format!(info)).toMatch(/locked {7}2 points/)
  }, 120_000)
})
