// The attacks on a repository's configuration: a config edited to "encryption":"none" (so that the next
// backups would be written in clear), other fields edited, a removed key slot put back, the seal
// stripped. Each is refused with REPOSITORY_CONFIG_CHANGED (or REPOSITORY_NOT_ENCRYPTED for a passphrase
// given to a repository that claims to be plain), and the released format keeps opening.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { FIXTURE_PASSPHRASE } from './fixtures/fixture-disk.js'
import { decodeKeySlot } from './format/key-slot.js'
import { loadFixture } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const FAST = { N: 1024, r: 8, p: 1 }
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const pass = text('correct horse battery')

const createEncrypted = (store: MemoryStore) =>
  Repository.create(store, { chunkSize: CHUNK, passphrase: pass, weakKdfForTests: FAST })

async function editJson(store: MemoryStore, key: string, edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(new TextDecoder().decode(await store.get(key))) as Record<string, unknown>
  edit(json)
  await store.put(key, text(JSON.stringify(json)))
}

async function removeAll(store: MemoryStore, prefix: string): Promise<void> {
  const keys: string[] = []
  for await (const info of store.list(prefix)) keys.push(info.key)
  for (const key of keys) await store.delete(key)
}

const changed = { code: 'REPOSITORY_CONFIG_CHANGED', message: expect.stringContaining("'nas1'") }

describe('a config edited to "encryption":"none"', () => {
  it('is refused while its key slots are left, with or without a passphrase or a record', async () => {
    const store = new MemoryStore('nas1')
    const recorded = (await createEncrypted(store)).identity
    await editJson(store, 'config', (c) => (c.encryption = 'none'))
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject(changed)
    await expect(Repository.open(store)).rejects.toMatchObject(changed)
    await expect(Repository.open(store, { expected: recorded })).rejects.toMatchObject(changed)
  })

  it('is refused once its key slots and seal are removed: by the passphrase and by the record', async () => {
    const store = new MemoryStore('nas1')
    const recorded = (await createEncrypted(store)).identity
    await editJson(store, 'config', (c) => (c.encryption = 'none'))
    await removeAll(store, 'keys/')
    await removeAll(store, 'seals/')
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject({
      code: 'REPOSITORY_NOT_ENCRYPTED',
      message: expect.stringContaining("'nas1'"),
    })
    await expect(Repository.open(store, { expected: recorded })).rejects.toMatchObject({
      ...changed,
      message: expect.stringMatching(/encryption 'none', 'aes-256-gcm' was recorded/),
    })
    await expect(Repository.open(store, { passphrase: pass, expected: recorded })).rejects.toMatchObject(
      changed,
    )
  })
})

describe('the config seal', () => {
  it.each([
    ['compressionLevel', 0],
    ['chunkSize', 1024 * 1024],
    ['created', '2000-01-01T00:00:00.000Z'],
  ])('refuses a config whose %s was edited', async (field, value) => {
    const store = new MemoryStore('nas1')
    await createEncrypted(store)
    await editJson(store, 'config', (c) => (c[field] = value))
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject(changed)
  })

  it('never tries a key slot it does not list: a removed passphrase put back does not open', async () => {
    const store = new MemoryStore('nas1')
    const repo = await createEncrypted(store)
    const old = text('an old passphrase, now revoked')
    const id = await repo.addKeySlot(old, 'old', { weakKdfForTests: FAST })
    const copy = await store.get(`keys/${id}`)
    await Repository.open(store, { passphrase: old }) // trusted while listed
    await repo.removeKeySlot(id)
    await store.put(`keys/${id}`, copy)
    await expect(Repository.open(store, { passphrase: old })).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
      details: { untrustedSlots: 1 },
    })
    const slots = await (await Repository.open(store, { passphrase: pass })).listKeySlots()
    expect(slots.map((s) => [s.label, s.trusted]).sort()).toEqual([
      ['initial passphrase', true],
      ['old', false],
    ])
  })

  it('answers a stripped seal with the recorded identity (a downgrade to an unchecked config)', async () => {
    const store = new MemoryStore('nas1')
    const recorded = (await createEncrypted(store)).identity
    expect(recorded).toMatchObject({ encryption: 'aes-256-gcm', sealed: true })
    await removeAll(store, 'seals/')
    await expect(Repository.open(store, { passphrase: pass, expected: recorded })).rejects.toMatchObject({
      ...changed,
      message: expect.stringMatching(/seal was removed/),
    })
    // Stripped and edited: the edit changes the fingerprint the record holds.
    await editJson(store, 'config', (c) => (c.compressionLevel = 0))
    await expect(Repository.open(store, { passphrase: pass, expected: recorded })).rejects.toMatchObject(
      changed,
    )
  })

  it('keeps a repository usable through key changes and reopens it with its record', async () => {
    const store = new MemoryStore('nas1')
    const repo = await createEncrypted(store)
    const recorded = repo.identity
    const second = text('a second passphrase')
    const id = await repo.addKeySlot(second, 'second', { weakKdfForTests: FAST })
    const first = (await repo.listKeySlots()).find((s) => s.label === 'initial passphrase')!
    await repo.removeKeySlot(first.id)
    const reopened = await Repository.open(store, { passphrase: second, expected: recorded })
    expect(reopened.identity).toEqual(recorded)
    await expect(reopened.removeKeySlot(id)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
  })
})

describe('repositories made before the seal (golden fixture v1-encrypted)', () => {
  it('open, get sealed by the first opener, and are then checked', async () => {
    const store = await loadFixture('v1-encrypted')
    const repo = await Repository.open(store, { passphrase: FIXTURE_PASSPHRASE })
    expect(repo.identity.sealed).toBe(true)
    expect(await store.stat(`seals/${repo.config.id}`)).toBeDefined()
    expect((await Repository.open(store, { passphrase: FIXTURE_PASSPHRASE })).identity).toEqual(repo.identity)
    await editJson(store, 'config', (c) => (c.compressionLevel = 9))
    await expect(Repository.open(store, { passphrase: FIXTURE_PASSPHRASE })).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
    })
  })
})

describe('passphrases and key slots', () => {
  it('refuses a passphrase given for a plain repository', async () => {
    const store = new MemoryStore('nas1')
    await Repository.create(store, { chunkSize: CHUNK })
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject({
      code: 'REPOSITORY_NOT_ENCRYPTED',
      message: expect.stringContaining("'nas1'"),
    })
  })

  it('never writes a plain config beside the key slots of an interrupted encrypted init', async () => {
    const store = new MemoryStore('nas1')
    await createEncrypted(store)
    await store.delete('config') // the init died before its commit point
    await expect(Repository.create(store, { chunkSize: CHUNK })).rejects.toMatchObject({
      code: 'REPOSITORY_EXISTS',
      message: expect.stringMatching(/interrupted encrypted init/),
    })
    await createEncrypted(store) // encrypted again: the old slot is not trusted by the new seal
    expect(await Repository.open(store, { passphrase: pass })).toBeDefined()
  })

  it('refuses a plain repository replaced by another one at the same place', async () => {
    const store = new MemoryStore('nas1')
    const recorded = (await Repository.create(store, { chunkSize: CHUNK })).identity
    await store.delete('config')
    await Repository.create(store, { chunkSize: CHUNK })
    await expect(Repository.open(store, { expected: recorded })).rejects.toMatchObject({
      ...changed,
      message: expect.stringMatching(/its id is/),
    })
  })

  it('refuses a key slot asking scrypt for absurd work before deriving anything', async () => {
    const store = new MemoryStore('nas1')
    const repo = await createEncrypted(store)
    const [slot] = await repo.listKeySlots()
    await removeAll(store, 'seals/') // as a repository made before the seal: every slot is tried
    await editJson(store, `keys/${slot!.id}`, (s) => {
      ;(s.kdf as Record<string, unknown>).N = 2 ** 18
      ;(s.kdf as Record<string, unknown>).p = 16
    })
    const started = Date.now()
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject({
      code: 'KDF_OUT_OF_BOUNDS',
      message: expect.stringContaining(`keys/${slot!.id}`),
    })
    expect(Date.now() - started).toBeLessThan(1000)
    const absurd = {
      version: 1,
      id: 'x',
      label: 'x',
      created: 'x',
      wrapped: Buffer.alloc(60).toString('base64'),
    }
    for (const kdf of [
      { N: 2 ** 23, r: 8, p: 1 },
      { N: 2 ** 10, r: 64, p: 1 },
      { N: 2 ** 20, r: 16, p: 1 },
      { N: 1000, r: 8, p: 1 },
    ]) {
      const bytes = text(JSON.stringify({ ...absurd, kdf: { name: 'scrypt', ...kdf, salt: 'AAAA' } }))
      expect(() => decodeKeySlot(bytes, 'slot s')).toThrow(
        expect.objectContaining({ code: 'KDF_OUT_OF_BOUNDS' }),
      )
    }
  })

  it('gives new key slots scrypt N of at least 2^17 (tests pass a weaker one explicitly)', async () => {
    const store = new MemoryStore('nas1')
    await Repository.create(store, { chunkSize: CHUNK, passphrase: pass })
    for await (const info of store.list('keys/')) {
      expect(decodeKeySlot(await store.get(info.key), info.key).kdf.N).toBeGreaterThanOrEqual(2 ** 17)
    }
  })

  it('refuses a new passphrase shorter than 10 characters unless forced', async () => {
    const short = text('shortpass')
    const store = new MemoryStore('nas1')
    await expect(
      Repository.create(store, { chunkSize: CHUNK, passphrase: short, weakKdfForTests: FAST }),
    ).rejects.toMatchObject({ code: 'WEAK_PASSPHRASE', message: expect.stringMatching(/at least 10/) })
    expect(await store.stat('config')).toBeUndefined()
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      passphrase: short,
      weakKdfForTests: FAST,
      force: true,
    })
    await expect(repo.addKeySlot(text('tiny'), 'x', { weakKdfForTests: FAST })).rejects.toMatchObject({
      code: 'WEAK_PASSPHRASE',
    })
    await repo.addKeySlot(text('tiny'), 'x', { weakKdfForTests: FAST, force: true })
    await repo.addKeySlot(text('dix carac.'), 'ten characters', { weakKdfForTests: FAST })
  })
})
