// openRepositoryFromEnv on local directories: the secret from STRATA_KEY_FILE or STRATA_PASSPHRASE (or a
// prompt), asked for only when needed, and errors that name the next step.
import { readFile, writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { Repository } from '../repository/index.js'
import { LocalStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { openRepositoryFromEnv, readKeyFile } from './open-from-env.js'

const FAST = { N: 1024, r: 8, p: 1 }
const signal = new AbortController().signal

describe('opening a repository from the environment', () => {
  it('says how to create a repository that does not exist', async () => {
    await using dir = await scratchDir()
    const location = dir.path('nothing')
    await expect(openRepositoryFromEnv(location, { env: {}, signal })).rejects.toMatchObject({
      code: 'NOT_A_REPOSITORY',
      message: expect.stringMatching(
        `^no repository in .*: create it with 'strata repo init --repo ${location}'$`,
      ),
    })
  })

  it('names both variables when the secret is missing or wrong, and opens with a key file', async () => {
    await using dir = await scratchDir()
    const key = dir.path('key')
    const location = dir.path('sealed')
    await writeFile(key, 'a key file of more than 16 bytes')
    await Repository.create(new LocalStore(location), {
      passphrase: await readFile(key),
      weakKdfForTests: FAST,
    })
    for (const env of [{}, { STRATA_PASSPHRASE: 'wrong' }])
      await expect(openRepositoryFromEnv(location, { env, signal })).rejects.toMatchObject({
        code: expect.stringMatching(/^(PASSPHRASE_REQUIRED|WRONG_PASSPHRASE)$/),
        message: expect.stringMatching(/STRATA_PASSPHRASE.*STRATA_KEY_FILE/),
      })
    const env = { STRATA_KEY_FILE: key, STRATA_PASSPHRASE: 'wrong' }
    const repo = await openRepositoryFromEnv(location, { env, signal })
    expect(repo.encrypted).toBe(true)
    await writeFile(key, 'short')
    await expect(openRepositoryFromEnv(location, { env, signal })).rejects.toMatchObject({
      code: 'KEY_FILE_TOO_SHORT',
    })
    await expect(readKeyFile(dir.path('no-such-key'), signal)).rejects.toMatchObject({
      code: 'KEY_FILE_UNREADABLE',
    })
  })

  it('prompts only for an encrypted repository the environment gives no secret for', async () => {
    await using dir = await scratchDir()
    const secret = new TextEncoder().encode('correct horse battery staple')
    await Repository.create(new LocalStore(dir.path('plain')))
    await Repository.create(new LocalStore(dir.path('sealed')), { passphrase: secret, weakKdfForTests: FAST })
    const asked: string[] = []
    const prompt = async (name: string) => (asked.push(name), secret)
    await openRepositoryFromEnv(dir.path('plain'), { env: {}, prompt, signal })
    await openRepositoryFromEnv(dir.path('sealed'), {
      env: { STRATA_PASSPHRASE: 'x' },
      prompt,
      signal,
    }).catch(() => undefined)
    expect(asked).toEqual([])
    const repo = await openRepositoryFromEnv(dir.path('sealed'), { env: {}, prompt, signal })
    expect([repo.encrypted, asked]).toEqual([true, [repo.name]])
  })
})
