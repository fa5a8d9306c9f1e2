// The server and a repository's configuration: it records each repository's identity (id, encryption,
// config fingerprint, sealed) when the repository is added and compares it at every open, so that an
// encrypted repository whose config is edited to "encryption":"none" (key slots left or removed) is
// refused with REPOSITORY_CONFIG_CHANGED; short passphrases are refused unless forced.
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '@strata/core/testing'
import type { RunningServer } from '../start-server.js'
import { ApiClient } from '../testing/api-client.js'
import { startTestServer } from '../testing/test-server.js'

describe('repositories whose configuration changes behind the server', () => {
  let scratch: Scratch
  let server: RunningServer
  let api: ApiClient

  const start = async (): Promise<void> => {
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    expect((await api.login('admin', 'admin-password')).status).toBe(200)
  }
  /** What a restarted server does: open the repository again, from its record. */
  const restart = async (): Promise<void> => {
    await server.close()
    await start()
  }

  beforeAll(async () => {
    scratch = await scratchDir('strata-server-repo-config-')
    await start()
  })
  afterAll(async () => {
    await server?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  /** Resolves once the background usage measure of repository `id` has ended. */
  async function settled(id: string): Promise<void> {
    const deadline = Date.now() + 30_000
    for (;;) {
      const { usage, measuring } = (await api.get(`/api/repositories/${id}`)).body
      if (usage !== null && measuring === false) return
      if (Date.now() > deadline) throw new Error(`repository ${id} was never measured`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): Promise<void> {
    const config = JSON.parse(await readFile(join(dir, 'config'), 'utf8')) as Record<string, unknown>
    edit(config)
    await writeFile(join(dir, 'config'), JSON.stringify(config))
  }

  it('refuses a passphrase shorter than 10 characters unless forced', async () => {
    const location = scratch.path('short')
    const refused = await api.post('/api/repositories', {
      name: 'short',
      location,
      passphrase: 'too short',
      init: true,
    })
    expect(refused.status).toBe(400)
    expect(refused.body.error).toMatchObject({
      code: 'WEAK_PASSPHRASE',
      message: expect.stringMatching(/10/),
    })
    expect(await readdir(scratch.dir)).not.toContain('short')
    const forced = await api.post('/api/repositories', {
      name: 'short',
      location,
      passphrase: 'too short',
      init: true,
      force: true,
    })
    expect(forced.status).toBe(201)
  })

  it.each([
    ['its key slots left', false],
    ['its key slots and seal removed', true],
  ])('refuses an encrypted repository edited to "encryption":"none", %s', async (name, strip) => {
    const location = scratch.path(`enc-${strip}`)
    const created = await api.post('/api/repositories', {
      name,
      location,
      passphrase: 'correct horse battery staple',
      init: true,
    })
    expect(created.status).toBe(201)
    expect((await api.get(`/api/repositories/${created.body.id}/points`)).status).toBe(200)

    await editConfig(location, (c) => (c.encryption = 'none'))
    if (strip) {
      await rm(join(location, 'keys'), { recursive: true })
      await rm(join(location, 'seals'), { recursive: true })
    }
    await restart()
    const refused = await api.get(`/api/repositories/${created.body.id}/points`)
    expect(refused.status).toBe(409)
    expect(refused.body.error).toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
      message: expect.stringMatching(/encryption 'none', 'aes-256-gcm' was recorded/),
    })
    // Saving it again without accepting the change is refused the same way.
    const patched = await api.patch(`/api/repositories/${created.body.id}`, { name: `${name} again` })
    expect(patched.body.error).toMatchObject({ code: 'REPOSITORY_CONFIG_CHANGED' })
    expect((await api.get(`/api/repositories/${created.body.id}`)).body.identity).toMatchObject({
      encryption: 'aes-256-gcm',
      sealed: true,
    })
  })

  it('refuses another repository put in the place of a plain one until an admin accepts it', async () => {
    const location = scratch.path('plain')
    const created = await api.post('/api/repositories', { name: 'plain', location, init: true })
    expect(created.status).toBe(201)
    // Adding it starts a usage measure in the background, which opens the repository (and probes its
    // filesystem with a temporary file): the admin's swap happens once the server has left it alone.
    await settled(created.body.id as string)
    await rm(location, { recursive: true })
    const other = await api.post('/api/repositories', { name: 'other', location, init: true })
    expect(other.status).toBe(201)
    await restart()
    expect((await api.get(`/api/repositories/${created.body.id}/points`)).body.error).toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
      message: expect.stringMatching(/its id is/),
    })
    const accepted = await api.patch(`/api/repositories/${created.body.id}`, { acceptConfig: true })
    expect(accepted.status).toBe(200)
    expect(accepted.body.identity.id).toBe(other.body.identity.id)
    expect((await api.get(`/api/repositories/${created.body.id}/points`)).status).toBe(200)
  })

  it('refuses a passphrase for a repository that says it is not encrypted', async () => {
    const location = scratch.path('plain-2')
    expect((await api.post('/api/repositories', { name: 'plain-2', location, init: true })).status).toBe(201)
    const added = await api.post('/api/repositories', {
      name: 'plain-2 with a passphrase',
      location,
      passphrase: 'correct horse battery staple',
    })
    expect(added.status).toBe(400)
    expect(added.body.error).toMatchObject({ code: 'REPOSITORY_NOT_ENCRYPTED' })
  })
})
