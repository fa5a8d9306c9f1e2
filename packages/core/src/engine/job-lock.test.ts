import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { JobLockedError, lockJob } from './job-lock.js'

describe('lockJob', () => {
  it('refuses a second lock of the same job in this process until released', async () => {
    await using dir = await scratchDir()
    const lock = await lockJob(dir.dir, 'j')
    await expect(lockJob(dir.dir, 'j')).rejects.toThrow(JobLockedError)
    const other = await lockJob(dir.dir, 'k')
    await lock.release()
    await (await lockJob(dir.dir, 'j')).release()
    await other.release()
  })

  it('refuses a lock held by a live process and takes over one whose owner died', async () => {
    await using dir = await scratchDir()
    const parent = process.ppid // alive, and not this process
    await writeFile(join(dir.dir, 'j.lock'), `${parent}\n`)
    await expect(lockJob(dir.dir, 'j')).rejects.toThrow(`job 'j' is already running (process ${parent})`)
    await writeFile(join(dir.dir, 'j.lock'), `${spawnSync('true').pid}\n`)
    const lock = await lockJob(dir.dir, 'j')
    await lock.release()
  })
})
