import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DirectFiles } from './direct-writes.js'

describe('DirectFiles', () => {
  let dir: string
  beforeEach(async () => {
    // The temporary directory's file system (ext4 here) takes direct I/O.
    dir = await mkdtemp(join(tmpdir(), 'strata-direct-'))
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  it('writes whole files exactly, odd sizes cut back from their padded blocks, and leaves no probe', async () => {
    const direct = await DirectFiles.open(join(dir, 'probe'), 1024 * 1024, 2)
    expect(direct).toBeDefined()
    expect(await readdir(dir)).toEqual([])
    for (const size of [4096, 300 * 1024 + 3, 1024 * 1024]) {
      const data = randomBytes(size)
      expect(await direct!.write(join(dir, `f${size}`), data)).toBe(true)
      expect((await readFile(join(dir, `f${size}`))).equals(data)).toBe(true)
      expect((await stat(join(dir, `f${size}`))).size).toBe(size)
    }
  })

  it('declines what it cannot take, leaving nothing behind, and never overwrites', async () => {
    const direct = (await DirectFiles.open(join(dir, 'probe'), 64 * 1024, 1))!
    expect(await direct.write(join(dir, 'big'), randomBytes(64 * 1024 + 1))).toBe(false)
    // One buffer: of two writes at once, the second is declined (the caller uses the page cache).
    const results = await Promise.all([
      direct.write(join(dir, 'a'), randomBytes(8192)),
      direct.write(join(dir, 'b'), randomBytes(8192)),
    ])
    expect(results).toEqual([true, false])
    expect((await readdir(dir)).sort()).toEqual(['a'])
    await expect(direct.write(join(dir, 'a'), randomBytes(8192))).rejects.toMatchObject({ code: 'EEXIST' })
    // The buffer is free again after a failure.
    expect(await direct.write(join(dir, 'c'), randomBytes(100))).toBe(true)
  })

  it('is undefined, not an error, where the directory cannot hold the probe', async () => {
    expect(await DirectFiles.open(join(dir, 'absent', 'probe'), 4096, 1)).toBeUndefined()
  })
})
