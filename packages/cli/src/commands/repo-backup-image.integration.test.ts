// `strata repo backup-image` of a sparse image: the holes the file system knows of (FIEMAP through
// filefrag) are never read, so the cost follows the data, not the disk size; the point restores exactly.
import { randomBytes } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { repoBackupImage } from './repo-backup-image.js'
import { repoInit } from './repo-init.js'
import { repoRestoreImage } from './repo-restore-image.js'
import { runRepoCommand } from '../testing/repo-commands.js'

const CHUNK = 512 * 1024
let scratch: Scratch

beforeAll(async () => {
  requireBinary('filefrag')
  scratch = await scratchDir('strata-backup-image-')
  delete process.env.STRATA_PASSPHRASE
})
afterAll(() => scratch?.[Symbol.asyncDispose]())

describe('strata repo backup-image of a sparse image', () => {
  it('reads only the chunks that hold data, and restores byte for byte', async () => {
    const repo = scratch.path('repo')
    await runRepoCommand(repoInit, [], { repo, 'chunk-size': '512k', compression: '1' })
    // 256 MiB logical, data in three chunks.
    const file = scratch.path('sparse.img')
    const handle = await open(file, 'w')
    for (const at of [0, 300 * CHUNK + CHUNK / 2, 511 * CHUNK]) {
      const bytes = randomBytes(CHUNK / 2)
      await handle.write(bytes, 0, bytes.length, at)
    }
    await handle.truncate(256 * 1024 * 1024)
    await handle.close()
    const { result } = await runRepoCommand(repoBackupImage, [file], { repo, vm: 'sparse' })
    expect(result).toMatchObject({ chunks: 512, chunksRead: 3, nonZeroChunks: 3, path: 'allocation-map' })
    const out = scratch.path('restored.img')
    await runRepoCommand(repoRestoreImage, [result.point, out], { repo })
    expect((await readFile(out)).equals(await readFile(file))).toBe(true)
  }, 60_000)
})
