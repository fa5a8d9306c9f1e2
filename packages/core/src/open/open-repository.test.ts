// openRepository on local directories: the passphrase asked for only when needed, create-if-missing,
// the typed errors of a location that holds no repository, and the checks against a changed config:
// a given secret is never ignored, a recorded identity is compared, a shared secret goes only where it
// is needed.
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Repository, RepositoryError } from '../repository/index.js'
import { LocalStore, StorageError } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { openRepository } from './open-repository.js'

const secret = new TextEncoder().encode('correct horse battery staple')
const signal = new AbortController().signal
const FAST = { N: 1024, r: 8, p: 1 }

async function encrypted(path: string): Promise<Repository> {
  return Repository.create(new LocalStore(path), { passphrase: secret, weakKdfForTests: FAST })
}

async function editConfig(path: string, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(await readFile(join(path, 'config'), 'utf8')) as Record<string, unknown>
  edit(config)
  await writeFile(join(path, 'config'), JSON.stringify(config))
}

describe('openRepository', () => {
  it('opens a plain repository without asking for a passphrase', async () => {
    await using dir = await scratchDir()
    const created = await Repository.create(new LocalStore(dir.path('repo')))
    let asked = 0
    const repo = await openRepository(dir.path('repo'), {
      credentials: {},
      passphrase: async () => (asked++, secret),
      signal,
    })
    expect([repo.config.id, repo.encrypted, asked]).toEqual([created.config.id, false, 0])
  })

  it('asks a passphrase function once, and only for an encrypted repository', async () => {
    await using dir = await scratchDir()
    await encrypted(dir.path('repo'))
    const asked: string[] = []
    const repo = await openRepository(`file://${dir.path('repo')}`, {
      credentials: {},
      passphrase: async (name) => (asked.push(name), secret),
      signal,
    })
    expect(repo.encrypted).toBe(true)
    expect(asked).toEqual([repo.name])
  })

  it('opens an encrypted repository with given bytes, and refuses it without them', async () => {
    await using dir = await scratchDir()
    await encrypted(dir.path('repo'))
    const repo = await openRepository(dir.path('repo'), { credentials: {}, passphrase: secret, signal })
    expect(repo.encrypted).toBe(true)
    const refused = openRepository(dir.path('repo'), { credentials: {}, signal })
    await expect(refused).rejects.toBeInstanceOf(RepositoryError)
    await expect(refused).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' })
  })

  it('says NOT_A_REPOSITORY for an empty location unless asked to create one there', async () => {
    await using dir = await scratchDir()
    const missing = openRepository(dir.path('empty'), { credentials: {}, signal })
    await expect(missing).rejects.toMatchObject({ code: 'NOT_A_REPOSITORY' })
    const made = await openRepository(dir.path('empty'), {
      credentials: {},
      passphrase: secret,
      create: true,
      signal,
    })
    expect(made.encrypted).toBe(true)
    // A second create-or-open opens what the first created.
    const again = await openRepository(dir.path('empty'), {
      credentials: {},
      passphrase: secret,
      create: true,
      signal,
    })
    expect(again.config.id).toBe(made.config.id)
  })

  it('rejects a bad location with the store error, and an aborted signal before any I/O', async () => {
    await expect(openRepository('ftp://host/x', { credentials: {}, signal })).rejects.toBeInstanceOf(
      StorageError,
    )
    const aborted = AbortSignal.abort(new Error('stop'))
    await expect(openRepository('/nonexistent', { credentials: {}, signal: aborted })).rejects.toThrow('stop')
  })

  it('takes S3 credentials only from the source it is given, not from the process environment', async () => {
    const saved = { ...process.env }
    process.env.AWS_ACCESS_KEY_ID = 'from-the-process'
    process.env.AWS_SECRET_ACCESS_KEY = 'from-the-process'
    try {
      const refused = openRepository('s3+http://127.0.0.1:1/bucket?conditional=no', {
        credentials: {},
        signal,
      })
      await expect(refused).rejects.toMatchObject({ code: 'INVALID_LOCATION' })
      await expect(refused).rejects.toThrow(/credentials missing/)
    } finally {
      process.env = saved
    }
  })
})

describe('openRepository and a configuration changed behind its back', () => {
  it('refuses bytes given for a repository whose config says it is plain, instead of ignoring them', async () => {
    await using dir = await scratchDir()
    await Repository.create(new LocalStore(dir.path('repo')))
    const refused = openRepository(dir.path('repo'), { credentials: {}, passphrase: secret, signal })
    await expect(refused).rejects.toMatchObject({ code: 'REPOSITORY_NOT_ENCRYPTED' })
  })

  it('refuses a repository that differs from the identity recorded of it', async () => {
    await using dir = await scratchDir()
    const first = await Repository.create(new LocalStore(dir.path('repo')))
    const expected = first.identity
    const same = await openRepository(dir.path('repo'), { credentials: {}, expected, signal })
    expect(same.identity).toEqual(expected)
    await rm(dir.path('repo'), { recursive: true })
    await Repository.create(new LocalStore(dir.path('repo')))
    const other = openRepository(dir.path('repo'), { credentials: {}, expected, signal })
    await expect(other).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
      message: expect.stringMatching(/its id is/),
    })
  })

  it('compares the recorded identity on the open that follows a prompt too', async () => {
    await using dir = await scratchDir()
    const expected = (await encrypted(dir.path('repo'))).identity
    await rm(dir.path('repo', 'seals'), { recursive: true })
    const refused = openRepository(dir.path('repo'), {
      credentials: {},
      passphrase: async () => secret,
      expected,
      signal,
    })
    await expect(refused).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
      message: expect.stringMatching(/seal was removed/),
    })
  })

  it('gives a shared secret only to an encrypted repository', async () => {
    await using dir = await scratchDir()
    const plain = await Repository.create(new LocalStore(dir.path('plain')))
    await encrypted(dir.path('enc'))
    const shared = { credentials: {}, passphrase: secret, passphraseShared: true, signal }
    expect((await openRepository(dir.path('plain'), shared)).encrypted).toBe(false)
    const recorded = await openRepository(dir.path('plain'), { ...shared, expected: plain.identity })
    expect(recorded.encrypted).toBe(false)
    expect((await openRepository(dir.path('enc'), shared)).encrypted).toBe(true)
  })

  it("refuses a shared secret's repository recorded encrypted whose config now says plain", async () => {
    await using dir = await scratchDir()
    const expected = (await encrypted(dir.path('repo'))).identity
    await editConfig(dir.path('repo'), (c) => (c.encryption = 'none'))
    const shared = { credentials: {}, passphrase: secret, passphraseShared: true, signal }
    await expect(openRepository(dir.path('repo'), { ...shared, expected })).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
      message: expect.stringMatching(/encryption 'none', 'aes-256-gcm' was recorded/),
    })
  })

  it('creates with a short passphrase only when forced', async () => {
    await using dir = await scratchDir()
    const short = new TextEncoder().encode('too short')
    const options = { credentials: {}, passphrase: short, create: true, signal }
    await expect(openRepository(dir.path('repo'), options)).rejects.toMatchObject({ code: 'WEAK_PASSPHRASE' })
    const forced = await openRepository(dir.path('repo'), { ...options, force: true })
    expect(forced.encrypted).toBe(true)
  })
})
