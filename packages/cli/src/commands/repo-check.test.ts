// `strata repo check` and the point index on a local repository: a repository written before the index
// (none) checks clean and says so, `--repair` builds the index and `repo snapshots` then lists from it;
// a point whose entry is lost fails the check, naming it, until `--repair` puts the entry back.
import { readdir, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { makeImage, runRepoCommand } from '../testing/repo-commands.js'
import { repoBackupImage } from './repo-backup-image.js'
import { repoCheck } from './repo-check.js'
import { repoInit } from './repo-init.js'
import { repoSnapshots } from './repo-snapshots.js'

let scratch: Scratch
beforeAll(async () => {
  scratch = await scratchDir()
  delete process.env.STRATA_PASSPHRASE
})
afterAll(async () => scratch[Symbol.asyncDispose]())

describe('strata repo check and the point index', () => {
  it('builds the index of an older repository with --repair, and repairs a lost entry', async () => {
    const repo = scratch.path('repo')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k' })
    const file = scratch.path('disk.img')
    await writeFile(file, makeImage(2, 512 * 1024))
    const points: string[] = []
    for (let i = 0; i < 2; i++)
      points.push((await runRepoCommand(repoBackupImage, [file], { repo, vm: 'web-01' })).result.point)
    await rm(join(repo, 'index'), { recursive: true }) // as an older version leaves a repository

    const old = (await runRepoCommand(repoCheck, [], { repo })).result
    expect(old.pointIndex).toMatchObject({ ready: false, entries: 0 })
    expect(repoCheck.format!(old)).toContain('no point index yet')
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual(points)

    const built = (await runRepoCommand(repoCheck, [], { repo, repair: true })).result
    expect(repoCheck.format!(built)).toContain('point index built (2 entries)')
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual(points)

    const entries = (await readdir(join(repo, 'index', 'points'))).filter((n) => /^\d/.test(n))
    expect(entries).toHaveLength(2)
    await unlink(join(repo, 'index', 'points', entries[0]!))
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual([points[1]])
    await expect(runRepoCommand(repoCheck, [], { repo })).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining(`restore point ${points[0]}: has no point index entry`),
    })
    const repaired = await runRepoCommand(repoCheck, [], { repo, repair: true })
    expect(repaired.stderr).toContain(`repaired: restore point ${points[0]}`)
    expect(repoCheck.format!(repaired.result)).toContain('point index: 1 entries found, 1 problems repaired')
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((p) => p.ref)).toEqual(points)
  })
})
