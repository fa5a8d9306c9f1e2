// openRepository on local directories: the passphrase asked for only when needed, create-if-missing,
// and the typed errors of a location that holds no repository.
import { describe, expect, it } from 'vitest'
import { Repository, RepositoryError } from '../repository/index.js'
import { LocalStore, StorageError } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import { openRepository } from './open-repository.js'

const secret = new TextEncoder().encode('correct horse battery staple')
const signal = new AbortController().signal

async function encrypted(path: string): Promise<void> {
  await Repository.create(new LocalStore(path), { passphrase: secret, scrypt: { N: 1024, r: 8, p: 1 } })
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
