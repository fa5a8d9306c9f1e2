// A job records each repository's identity at its first run and refuses, at later runs, a repository
// whose configuration changed behind Strata's back: an encrypted repository edited to
// "encryption":"none" (key slots left or removed), or another repository put in its place.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Repository } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import type { XapiClient } from '../xapi/index.js'
import { parseJob } from './job.js'
import { readJobState } from './job-state.js'
import { createPoolLimits } from './limits.js'
import { readRun } from './run-log.js'
import { runDirs, runJob, type RunDeps } from './run.js'

const pass = new TextEncoder().encode('correct horse battery')
const FAST = { N: 1024, r: 8, p: 1 }

/** Deps whose repository is opened from `store` as the worker opens one: passphrase and record. */
function deps(store: MemoryStore, passphrase?: Uint8Array): RunDeps {
  const vms = new Map([['OpaqueRef:0', { uuid: 'uuid-a', name_label: 'a', tags: [], power_state: 'Halted' }]])
  return {
    connectPool: async (pool) => ({
      poolId: pool.id,
      uuid: 'pool-uuid',
      xapi: {} as XapiClient,
      cache: { all: () => vms },
      close: async () => {},
    }),
    openRepository: (_target, signal, options) =>
      Repository.open(store, { passphrase, expected: options?.expected, signal }),
    limits: () => createPoolLimits(),
    backupVm: async (_task, _xapi, _limits, vmUuid) => ({
      vmUuid,
      points: [],
      full: true,
      bytesRead: 0,
      bytesStored: 0,
      warnings: [],
    }),
  }
}

const job = parseJob({
  id: 'nightly',
  pools: [{ id: 'lab', url: 'https://lab', user: 'root' }],
  repositories: [{ name: 'nas', location: '/srv/nas' }],
  vms: ['a'],
})

async function editConfig(store: MemoryStore, edit: (c: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(Buffer.from(await store.get('config')).toString()) as Record<string, unknown>
  edit(config)
  await store.put('config', new TextEncoder().encode(JSON.stringify(config)))
}

async function removeAll(store: MemoryStore, prefix: string): Promise<void> {
  const keys: string[] = []
  for await (const info of store.list(prefix)) keys.push(info.key)
  for (const key of keys) await store.delete(key)
}

describe('a job and the repositories it records', () => {
  it.each([
    ['key slots left', false],
    ['key slots and seal removed', true],
  ])('refuses an encrypted repository edited to "encryption":"none" (%s)', async (_, strip) => {
    await using dir = await scratchDir()
    const store = new MemoryStore('nas')
    const repo = await Repository.create(store, {
      chunkSize: 512 * 1024,
      passphrase: pass,
      weakKdfForTests: FAST,
    })
    const signal = new AbortController().signal
    const first = await runJob({ job, dataDir: dir.dir, signal, deps: deps(store, pass) })
    expect(first.status).toBe('success')
    const state = await readJobState(runDirs(dir.dir).state, 'nightly')
    expect(state.repositories['/srv/nas']).toEqual(repo.identity)
    expect(JSON.parse(await readFile(join(runDirs(dir.dir).state, 'nightly.json'), 'utf8'))).toMatchObject({
      repositories: { '/srv/nas': { encryption: 'aes-256-gcm', sealed: true } },
    })

    await editConfig(store, (c) => (c.encryption = 'none'))
    if (strip) {
      await removeAll(store, 'keys/')
      await removeAll(store, 'seals/')
    }
    for (const passphrase of [pass, undefined]) {
      const second = await runJob({ job, dataDir: dir.dir, signal, deps: deps(store, passphrase) })
      expect(second.status).toBe('failure')
      const root = await readRun(runDirs(dir.dir).runs, second.runId)
      expect(root.error).toMatchObject({ code: 'NO_REPOSITORY' })
      expect(root.children.find((c) => c.name === 'open repository')?.error).toMatchObject({
        code: 'REPOSITORY_CONFIG_CHANGED',
        message: expect.stringContaining("'nas'"),
      })
    }
  })

  it('refuses another repository put in the place of a plain one', async () => {
    await using dir = await scratchDir()
    const store = new MemoryStore('nas')
    await Repository.create(store, { chunkSize: 512 * 1024 })
    const signal = new AbortController().signal
    expect((await runJob({ job, dataDir: dir.dir, signal, deps: deps(store) })).status).toBe('success')
    await store.delete('config')
    await Repository.create(store, { chunkSize: 512 * 1024 })
    const second = await runJob({ job, dataDir: dir.dir, signal, deps: deps(store) })
    const root = await readRun(runDirs(dir.dir).runs, second.runId)
    expect(root.children.find((c) => c.name === 'open repository')?.error).toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
    })
  })
})
