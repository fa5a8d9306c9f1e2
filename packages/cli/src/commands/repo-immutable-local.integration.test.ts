// `strata repo init --repo /path --immutable 1d` on a local ext4 directory: objects made immutable
// (chattr +i), `repo forget` refuses a point before its date or keeps it with a note, `repo info` counts
// the locked points and bytes and names the mechanism.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { repoBackupImage } from './repo-backup-image.js'
import { repoForget } from './repo-forget.js'
import { repoInfo } from './repo-info.js'
import { repoInit } from './repo-init.js'
import { runRepoCommand } from '../testing/repo-commands.js'

requireBinary('chattr')
const run = promisify(execFile)
let scratch: Scratch

beforeAll(async () => {
  scratch = await scratchDir()
  delete process.env.STRATA_PASSPHRASE
})
afterAll(async () => {
  await run('chattr', ['-R', '-f', '-i', scratch.dir]).catch(() => undefined)
  await scratch[Symbol.asyncDispose]()
})

describe('strata repo init --immutable on a local path', () => {
  it('keeps points before their date: forget refuses, retention notes, info counts', async () => {
    const repo = scratch.path('repo')
    const init = await runRepoCommand(repoInit, [], { repo, immutable: '1d' })
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
    expect(repoInfo.format!(info)).toContain('(immutable attribute, chattr +i)')
  }, 120_000)
})
