// openRepositoryFromEnv on local directories: the secret from STRATA_KEY_FILE or STRATA_PASSPHRASE (or a
// prompt), asked for only when needed, and errors that name the next step.
import { readFile, rm, writeFile } from 'node:fs/promises'
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

describe('opening from the environment and a configuration changed behind its back', () => {
  const secret = new TextEncoder().encode('correct horse battery staple')

  it("refuses the environment's secret for a repository whose config says it is plain", async () => {
    await using dir = await scratchDir()
    const key = dir.path('key')
    await writeFile(key, 'a key file of more than 16 bytes')
    await Repository.create(new LocalStore(dir.path('plain')))
    for (const env of [{ STRATA_PASSPHRASE: 'correct horse battery' }, { STRATA_KEY_FILE: key }])
      await expect(openRepositoryFromEnv(dir.path('plain'), { env, signal })).rejects.toMatchObject({
        code: 'REPOSITORY_NOT_ENCRYPTED',
      })
    const opened = await openRepositoryFromEnv(dir.path('plain'), { env: {}, signal })
    expect(opened.encrypted).toBe(false)
  })

  it('compares the identity the caller recorded', async () => {
    await using dir = await scratchDir()
    const expected = (await Repository.create(new LocalStore(dir.path('repo')))).identity
    expect((await openRepositoryFromEnv(dir.path('repo'), { env: {}, expected, signal })).identity).toEqual(
      expected,
    )
    await rm(dir.path('repo'), { recursive: true })
    await Repository.create(new LocalStore(dir.path('repo')))
    await expect(
      openRepositoryFromEnv(dir.path('repo'), { env: {}, expected, signal }),
    ).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
    })
  })

  it("gives a job's shared secret only to the encrypted repositories", async () => {
    await using dir = await scratchDir()
    await Repository.create(new LocalStore(dir.path('plain')))
    await Repository.create(new LocalStore(dir.path('sealed')), { passphrase: secret, weakKdfForTests: FAST })
    const env = { STRATA_PASSPHRASE: new TextDecoder().decode(secret) }
    const shared = { env, passphraseShared: true, signal }
    expect((await openRepositoryFromEnv(dir.path('plain'), shared)).encrypted).toBe(false)
    expect((await openRepositoryFromEnv(dir.path('sealed'), shared)).encrypted).toBe(true)
  })

  it('creates plain without a secret, and with a short one from the environment only when forced', async () => {
    await using dir = await scratchDir()
    const plain = await openRepositoryFromEnv(dir.path('plain'), { env: {}, create: true, signal })
    expect(plain.encrypted).toBe(false)
    const options = { env: { STRATA_PASSPHRASE: 'too short' }, create: true, signal }
    await expect(openRepositoryFromEnv(dir.path('short'), options)).rejects.toMatchObject({
      code: 'WEAK_PASSPHRASE',
    })
    const forced = await openRepositoryFromEnv(dir.path('short'), { ...options, force: true })
    expect(forced.encrypted).toBe(true)
  })
})
