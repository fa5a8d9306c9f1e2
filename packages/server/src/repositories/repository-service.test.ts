import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { sleep } from '@strata/core'
import { openStore, type ObjectStore } from '@strata/core/storage'
import { openRepository } from '@strata/core/open'
import { addTier } from '@strata/core/repository'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { migrate, openSqlite } from '../db/database.js'
import { SecretBox } from '../secret-box.js'
import { repositoryWithPoint } from '../testing/repository-fixture.js'
import { RepositoryService } from './repository-service.js'
import { RepositoryStore } from './repository-store.js'

/** Walks running at once, across every repository of a test. */
const running = { now: 0, peak: 0 }

/** Counts the chunk walks of a store (its real `list`, wrapped). */
function countWalks(store: ObjectStore): { walks: number } {
  const counts = { walks: 0 }
  const list = store.list.bind(store)
  store.list = async function* (prefix, options) {
    if (prefix !== 'chunks/') return yield* list(prefix, options)
    counts.walks++
    running.peak = Math.max(running.peak, ++running.now)
    try {
      await sleep(50) // a walk of a big repository takes a while
      yield* list(prefix, options)
    } finally {
      running.now--
    }
  }
  return counts
}

describe('repository usage', () => {
  let scratch: Scratch
  let service: RepositoryService
  let store: RepositoryStore

  beforeEach(async () => {
    scratch = await scratchDir('strata-server-usage-')
    Object.assign(running, { now: 0, peak: 0 })
    const db = openSqlite(':memory:')
    await migrate(db)
    store = new RepositoryStore(db, new SecretBox(randomBytes(32)))
    service = new RepositoryService(store)
  })
  afterEach(async () => {
    await scratch[Symbol.asyncDispose]()
  })

  const addRepository = async (name: string) => {
    await repositoryWithPoint(scratch.path(name), { vm: 'vm-1', diskBytes: 3 * 1024 * 1024 })
    const record = await store.create({ name, location: scratch.path(name) })
    return {
      id: record.id,
      counts: countWalks((await service.open(record.id, AbortSignal.timeout(10_000))).store),
    }
  }

  const measured = async (id: string) => {
    for (let i = 0; i < 200 && service.usage(id) === undefined; i++) await sleep(10)
    return service.usage(id)
  }

  it('walks a repository once for any number of listings, and not again while the measure is fresh', async () => {
    const { id, counts } = await addRepository('a')
    for (let i = 0; i < 50; i++) expect(service.usage(id)).toBeUndefined()
    expect(await measured(id)).toEqual({ bytes: expect.any(Number), chunks: 2 })
    for (let i = 0; i < 50; i++) service.usage(id)
    await sleep(100)
    expect(counts.walks).toBe(1)
  })

  it('walks one repository at a time', async () => {
    const repos = await Promise.all(['a', 'b', 'c'].map(addRepository))
    for (let i = 0; i < 10; i++) for (const r of repos) service.usage(r.id)
    for (const r of repos) expect(await measured(r.id)).toBeDefined()
    expect(repos.map((r) => r.counts.walks)).toEqual([1, 1, 1])
    expect(running.peak).toBe(1)
  })
})

describe('a cold tier added while the server holds the repository open', () => {
  it('is attached at the next use that checks the repository', async () => {
    const scratch = await scratchDir('strata-server-tier-')
    try {
      const db = openSqlite(':memory:')
      await migrate(db)
      const store = new RepositoryStore(db, new SecretBox(randomBytes(32)))
      const service = new RepositoryService(store)
      await repositoryWithPoint(scratch.path('repo'), { vm: 'vm-1', diskBytes: 1024 * 1024 })
      const { id } = await store.create({ name: 'r', location: scratch.path('repo') })
      const signal = AbortSignal.timeout(10_000)
      const cached = await service.open(id, signal)
      expect(cached.cold).toBeUndefined()
      const cli = await openRepository(scratch.path('repo'), { credentials: {}, signal })
      await addTier(
        cli,
        { cold: scratch.path('cold'), olderThanSeconds: 86_400 },
        await openStore(scratch.path('cold')),
      )
      const current = await service.openCurrent(id, signal)
      expect(current).not.toBe(cached)
      expect(current.cold?.tier.cold).toBe(scratch.path('cold'))
      expect(current.cold?.store).toBeDefined()
      expect(await service.openCurrent(id, signal)).toBe(current) // unchanged since: the same handle
    } finally {
      await scratch[Symbol.asyncDispose]()
    }
  })
})
