import { readFile, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { Repository } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { openRepositoryWithEnv } from './repository-access.js'

const FAST = { N: 1024, r: 8, p: 1 }

describe('opening a repository from the environment', () => {
  it('says how to create a repository that does not exist', async () => {
    await expect(openRepositoryWithEnv(new MemoryStore('m'), '/srv/nothing', {})).rejects.toMatchObject({
      code: 'NOT_A_REPOSITORY',
      message: "no repository in 'm': create it with 'strata repo init --repo /srv/nothing'",
    })
  })

  it('names both variables when the secret is missing or wrong, and opens with a key file', async () => {
    await using dir = await scratchDir()
    const key = dir.path('key')
    await writeFile(key, 'a key file of more than 16 bytes')
    const store = new MemoryStore('sealed')
    await Repository.create(store, { passphrase: await readFile(key), scrypt: FAST })
    for (const env of [{}, { STRATA_PASSPHRASE: 'wrong' }])
      await expect(openRepositoryWithEnv(store, 'loc', env)).rejects.toMatchObject({
        code: expect.stringMatching(/^(PASSPHRASE_REQUIRED|WRONG_PASSPHRASE)$/),
        message: expect.stringMatching(/STRATA_PASSPHRASE.*STRATA_KEY_FILE/),
      })
    const repo = await openRepositoryWithEnv(store, 'loc', {
      STRATA_KEY_FILE: key,
      STRATA_PASSPHRASE: 'wrong',
    })
    expect(repo.encrypted).toBe(true)
    await writeFile(key, 'short')
    await expect(openRepositoryWithEnv(store, 'loc', { STRATA_KEY_FILE: key })).rejects.toMatchObject({
      code: 'KEY_FILE_TOO_SHORT',
    })
  })
})
