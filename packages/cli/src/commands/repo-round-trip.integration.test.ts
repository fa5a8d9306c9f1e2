// Round trips through the repo commands on a local directory and on a real S3 server, plain and
// encrypted: full backup, incremental with --changed, restores byte-exact, forget, gc, check.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createTestBucket,
  s3Env,
  s3Location,
  scratchDir,
  useS3Server,
  type Scratch,
} from '@strata/core/testing'
import { repoInit } from './repo-init.js'
import { repoBackupImage } from './repo-backup-image.js'
import { repoRestoreImage } from './repo-restore-image.js'
import { repoSnapshots } from './repo-snapshots.js'
import { repoForget } from './repo-forget.js'
import { repoGc } from './repo-gc.js'
import { repoCheck } from './repo-check.js'
import { repoVerify } from './repo-verify.js'
import { repoInfo } from './repo-info.js'
import { repoKeyAdd } from './repo-key-add.js'
import { repoKeyList } from './repo-key-list.js'
import { repoKeyRemove } from './repo-key-remove.js'
import { makeImage, runRepoCommand } from '../testing/repo-commands.js'

const CHUNK = 512 * 1024
const server = useS3Server()
let scratch: Scratch
let bucket: string

beforeAll(async () => {
  scratch = await scratchDir()
  bucket = await createTestBucket(server, 'strata-repo')
  for (const [k, v] of Object.entries(s3Env(server))) process.env[k] = v
})
afterAll(async () => {
  await scratch[Symbol.asyncDispose]()
  delete process.env.STRATA_PASSPHRASE
})

describe.each([
  ['local', 'plain'],
  ['local', 'encrypted'],
  ['s3', 'plain'],
  ['s3', 'encrypted'],
])('strata repo on %s storage, %s', (where, mode) => {
  it('round-trips full and incremental images byte-exactly and survives forget + gc', async () => {
    const repo = where === 'local' ? scratch.path(`repo-${mode}`) : s3Location(server, bucket, `repo-${mode}`)
    if (mode === 'encrypted') process.env.STRATA_PASSPHRASE = 'round trip'
    else delete process.env.STRATA_PASSPHRASE
    await runRepoCommand(repoInit, [], {
      repo,
      encrypt: mode === 'encrypted',
      'chunk-size': '512k',
      compression: '1',
    })

    const image = makeImage(20, CHUNK)
    const file = scratch.path(`${where}-${mode}.img`)
    await writeFile(file, image)
    const first = (await runRepoCommand(repoBackupImage, [file], { repo, vm: 'vm 1' })).result
    expect(first).toMatchObject({ chunks: 21, nonZeroChunks: 14 })

    // Change two chunks (one given as a byte range) and back up only those over the first point.
    const changed = Buffer.from(image)
    randomBytes(100).copy(changed, 4 * CHUNK + 7)
    randomBytes(10).copy(changed, 16 * CHUNK + 100)
    await writeFile(file, changed)
    const second = (
      await runRepoCommand(repoBackupImage, [file], {
        repo,
        base: first.point,
        changed: `4,${16 * CHUNK + 100}+10`,
      })
    ).result
    expect(second).toMatchObject({ chunksRead: 2, newChunks: 2 })

    for (const [point, expected] of [
      [first.point, image],
      [second.point, changed],
    ] as const) {
      const out = scratch.path(`${where}-${mode}-${point.split('/').pop()}.out`)
      await runRepoCommand(repoRestoreImage, [point, out], { repo })
      expect((await readFile(out)).equals(expected)).toBe(true)
      // Sparse: the restored file allocates no more than its non-zero chunks.
      expect((await stat(out)).blocks * 512).toBeLessThanOrEqual(15 * CHUNK + 64 * 1024)
    }

    expect((await runRepoCommand(repoSnapshots, [], { repo, vm: 'vm 1' })).result.map((s) => s.ref)).toEqual([
      first.point,
      second.point,
    ])
    await runRepoCommand(repoForget, [first.point], { repo })
    const gc = (await runRepoCommand(repoGc, [], { repo, margin: '0' })).result
    expect(gc.chunksDeleted).toBe(2) // the two chunks the second point replaced
    expect((await runRepoCommand(repoCheck, [], { repo })).result.ok).toBe(true)
    expect((await runRepoCommand(repoVerify, [], { repo })).result.bad).toEqual([])
    const info = (await runRepoCommand(repoInfo, [], { repo })).result
    expect(info.points).toBe(1)
    expect(info.store).toMatchObject(
      where === 'local'
        ? { createMode: 'link', fileSystem: { hardLinks: true } }
        : { conditionalCreate: true },
    )
    const out = scratch.path(`${where}-${mode}-after-gc.out`)
    await runRepoCommand(repoRestoreImage, [second.point, out], { repo })
    expect((await readFile(out)).equals(changed)).toBe(true)
  }, 60_000)
})

describe('strata repo verify and gc --purge-quarantine', () => {
  it('moves a corrupt chunk to quarantine, the next backup stores it again, gc purges it on request', async () => {
    delete process.env.STRATA_PASSPHRASE
    const repo = scratch.path('repo-quarantine')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k' })
    const file = scratch.path('quarantine.img')
    const image = makeImage(3, CHUNK)
    await writeFile(file, image)
    const first = (await runRepoCommand(repoBackupImage, [file], { repo, vm: 'q' })).result
    const chunks = await readdir(join(repo, 'chunks'), { recursive: true, withFileTypes: true })
    const victim = chunks.find((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name))!
    const path = join(victim.parentPath, victim.name)
    const bytes = await readFile(path)
    bytes[bytes.length - 1]! ^= 0x40
    await writeFile(path, bytes)
    await expect(runRepoCommand(repoVerify, [], { repo })).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringMatching(/1 bad chunks \(moved to quarantine/),
    })
    expect(await readdir(join(repo, 'quarantine'))).toEqual([victim.name])
    await runRepoCommand(repoBackupImage, [file], { repo, vm: 'q', base: first.point, changed: '' })
    expect((await runRepoCommand(repoCheck, [], { repo })).result.ok).toBe(true)
    const kept = (await runRepoCommand(repoGc, [], { repo, margin: '0' })).result
    expect(kept.quarantinePurged).toBe(0)
    expect(await readdir(join(repo, 'quarantine'))).toEqual([victim.name])
    const purged = (await runRepoCommand(repoGc, [], { repo, margin: '0', 'purge-quarantine': true })).result
    expect(purged.quarantinePurged).toBe(1)
    expect(repoGc.format!(purged)).toMatch(/1 quarantined chunks purged/)
    expect(await readdir(join(repo, 'quarantine'))).toEqual([])
    const out = scratch.path('quarantine.out')
    await runRepoCommand(repoRestoreImage, [first.point, out], { repo })
    expect((await readFile(out)).equals(image)).toBe(true)
  })
})

describe('strata repo forget', () => {
  it('applies retention per VM and schedule, and refuses ambiguous arguments', async () => {
    delete process.env.STRATA_PASSPHRASE
    const repo = scratch.path('repo-forget')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k' })
    const file = scratch.path('forget.img')
    await writeFile(file, makeImage(3, CHUNK))
    const points: string[] = []
    for (const [vm, schedule] of [
      ['a', 'hourly'],
      ['a', 'hourly'],
      ['a', 'hourly'],
      ['a', 'daily'],
      ['b', 'hourly'],
    ]) {
      points.push((await runRepoCommand(repoBackupImage, [file], { repo, vm, schedule })).result.point)
    }
    const dry = (await runRepoCommand(repoForget, [], { repo, 'keep-last': '1', 'dry-run': true })).result
    expect(dry.removed).toEqual([points[0], points[1]])
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result).toHaveLength(5)
    const done = (await runRepoCommand(repoForget, [], { repo, 'keep-last': '1', tz: 'Europe/Paris' })).result
    expect(done.kept.map((k) => k.ref).sort()).toEqual([points[2], points[3], points[4]].sort())
    expect((await runRepoCommand(repoSnapshots, [], { repo })).result.map((s) => s.ref).sort()).toEqual(
      [points[2], points[3], points[4]].sort(),
    )
    await expect(runRepoCommand(repoForget, [points[2]!], { repo, 'keep-last': '1' })).rejects.toThrow(
      /either/,
    )
    await expect(runRepoCommand(repoForget, [], { repo })).rejects.toThrow(/either/)
  })
})

describe('strata repo key', () => {
  it('changes the way in (passphrase → key file) without rewriting data', async () => {
    const repo = scratch.path('repo-keys')
    process.env.STRATA_PASSPHRASE = 'first passphrase'
    await runRepoCommand(repoInit, [], { repo, encrypt: true, 'chunk-size': '512k' })
    const file = scratch.path('keys.img')
    const image = makeImage(3, CHUNK)
    await writeFile(file, image)
    const { point } = (await runRepoCommand(repoBackupImage, [file], { repo })).result
    const keyFile = scratch.path('repo.key')
    await writeFile(keyFile, randomBytes(64))
    const added = (await runRepoCommand(repoKeyAdd, [], { repo, 'key-file': keyFile })).result
    const slots = (await runRepoCommand(repoKeyList, [], { repo })).result
    expect(slots).toHaveLength(2)
    const old = slots.find((s) => s.id !== added.slot)!
    await runRepoCommand(repoKeyRemove, [old.id], { repo })
    await expect(runRepoCommand(repoKeyList, [], { repo })).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
    })
    process.env.STRATA_KEY_FILE = keyFile
    try {
      await expect(runRepoCommand(repoKeyRemove, [added.slot], { repo })).rejects.toThrow(/last one/)
      const out = scratch.path('keys.out')
      await runRepoCommand(repoRestoreImage, [point, out], { repo })
      expect((await readFile(out)).equals(image)).toBe(true)
    } finally {
      delete process.env.STRATA_KEY_FILE
    }
  })
})
