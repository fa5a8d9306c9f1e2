// `strata repo protect|unprotect` on a local repository: the flag in `repo snapshots`, retention
// (`repo forget --keep-last`) keeping a protected point and saying so, and a delete by id refused.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { makeImage, runRepoCommand } from '../testing/repo-commands.js'
import { repoBackupImage } from './repo-backup-image.js'
import { repoForget } from './repo-forget.js'
import { repoInit } from './repo-init.js'
import { repoProtect, repoUnprotect } from './repo-protect.js'
import { repoSnapshots } from './repo-snapshots.js'

const CHUNK = 512 * 1024
let scratch: Scratch
beforeAll(async () => {
  scratch = await scratchDir()
  delete process.env.STRATA_PASSPHRASE
})
afterAll(async () => scratch[Symbol.asyncDispose]())

describe('strata repo protect', () => {
  it('keeps a protected point through retention and deletes, until it is unprotected', async () => {
    const repo = scratch.path('repo')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k' })
    const file = scratch.path('disk.img')
    await writeFile(file, makeImage(2, CHUNK))
    const points: string[] = []
    for (let i = 0; i < 3; i++)
      points.push((await runRepoCommand(repoBackupImage, [file], { repo, vm: 'web-01' })).result.point)
    const [oldest, middle, newest] = points as [string, string, string]

    const done = (await runRepoCommand(repoProtect, [], { repo, point: oldest })).result
    expect(done).toEqual({ point: oldest, protected: true })
    expect(repoProtect.format!(done)).toBe(`protected ${oldest}`)
    const listed = (await runRepoCommand(repoSnapshots, [], { repo })).result
    expect(listed.map((p) => [p.ref, p.protected])).toEqual([
      [oldest, true],
      [middle, false],
      [newest, false],
    ])
    expect(repoSnapshots.format!(listed)).toMatch(/PROTECTED[\s\S]*yes/)

    const forget = (await runRepoCommand(repoForget, [], { repo, 'keep-last': '1' })).result
    expect(forget.removed).toEqual([middle])
    expect(forget.kept).toContainEqual({ ref: oldest, reasons: ['protected'] })
    expect(repoForget.format!(forget)).toContain(`kept: protected  ${oldest}`)
    await expect(runRepoCommand(repoForget, [newest, oldest], { repo })).rejects.toMatchObject({
      code: 'POINT_PROTECTED',
    })
    // All or nothing: the unprotected point named beside it is still there.
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual([
      oldest,
      newest,
    ])

    await runRepoCommand(repoUnprotect, [], { repo, point: oldest })
    await runRepoCommand(repoForget, [oldest], { repo })
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual([newest])
    await expect(runRepoCommand(repoProtect, [], { repo })).rejects.toThrow(/--point/)
  })
})
