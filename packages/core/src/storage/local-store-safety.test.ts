// What a store-write attacker (or a careless umask) could do to a local repository: objects readable by
// others, symbolic links planted inside it to make Strata read, write or delete files elsewhere, and the
// leftovers of killed writers, which `removeIncomplete` must find by a streamed walk.
import { lstat, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../testing/index.js'
import { LocalStore } from './local-store.js'
import { wrap } from './open-store.js'

let scratch: Scratch
beforeEach(async () => {
  scratch = await scratchDir('strata-local-safety-')
})
afterEach(async () => {
  await scratch[Symbol.asyncDispose]()
})

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

describe('LocalStore permissions', () => {
  it.each([0o000, 0o022, 0o077, 0o277])(
    'creates objects 0600 and directories 0700 under umask %o',
    async (umask) => {
      const before = process.umask(umask)
      try {
        const store = new LocalStore(scratch.path('repo'))
        await store.put('chunks/ab/small', new Uint8Array(100))
        await store.put('chunks/cd/large', new Uint8Array(1024 * 1024), { ifNoneMatch: true }) // direct I/O path
        await store.put('config', new Uint8Array(10), { ifNoneMatch: true })
        for (const file of ['chunks/ab/small', 'chunks/cd/large', 'config'])
          expect(await mode(scratch.path('repo', file)), file).toBe(0o600)
        for (const dir of ['', 'chunks', 'chunks/ab', 'chunks/cd'])
          expect(await mode(scratch.path('repo', dir)), `directory '${dir}'`).toBe(0o700)
      } finally {
        process.umask(before)
      }
    },
  )
})

describe('LocalStore and symbolic links inside the repository', () => {
  async function planted() {
    const root = scratch.path('repo')
    const outside = scratch.path('outside')
    await mkdir(outside)
    await writeFile(join(outside, 'secret'), 'not yours')
    const store = new LocalStore(root)
    await store.put('chunks/00/real', new Uint8Array([1]))
    await mkdir(join(root, 'chunks'), { recursive: true })
    await symlink(outside, join(root, 'chunks', 'ab')) // a directory on the path
    await symlink(join(outside, 'secret'), join(root, 'config')) // an object itself
    return { root, outside, store }
  }
  const refused = { code: 'SYMLINK_REFUSED', message: expect.stringMatching(/symbolic link/) }

  it('never reads through them', async () => {
    const { store } = await planted()
    await expect(store.get('config')).rejects.toMatchObject(refused)
    await expect(store.getRange('config', 0, 4)).rejects.toMatchObject(refused)
    await expect(store.get('chunks/ab/secret')).rejects.toMatchObject(refused)
    await expect(store.getRange('chunks/ab/secret', 0, 4)).rejects.toMatchObject(refused)
    await expect(store.stat('chunks/ab/secret')).rejects.toMatchObject(refused)
    await expect(store.stat('config')).rejects.toMatchObject(refused)
  })

  it('never writes or deletes through them', async () => {
    const { store, outside } = await planted()
    await expect(store.put('chunks/ab/new', new Uint8Array([1]))).rejects.toMatchObject(refused)
    await expect(
      store.put('chunks/ab/new', new Uint8Array([1]), { ifNoneMatch: true }),
    ).rejects.toMatchObject(refused)
    await expect(store.delete('chunks/ab/secret')).rejects.toMatchObject(refused)
    expect((await readdir(outside)).sort()).toEqual(['secret'])
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('not yours')
  })

  it('never lists what they point at, and refuses a listing through one', async () => {
    const { store } = await planted()
    const keys: string[] = []
    for await (const info of store.list('')) keys.push(info.key)
    expect(keys).toEqual(['chunks/00/real'])
    const through = async () => {
      for await (const _ of store.list('chunks/ab/'));
    }
    await expect(through()).rejects.toMatchObject(refused)
  })

  it('goes through the wrapper stack without retrying the refusal', async () => {
    const { store } = await planted()
    let retries = 0
    const wrapped = wrap(store, { logger: (e) => void (e.attempt !== undefined && retries++) })
    await expect(wrapped.put('chunks/ab/new', new Uint8Array([1]))).rejects.toMatchObject(refused)
    expect(retries).toBe(0)
  })
})

describe('LocalStore leftovers of interrupted writes', () => {
  it('lists and removes old temp files anywhere, never fresh ones, never through a symbolic link', async () => {
    const root = scratch.path('repo')
    const store = new LocalStore(root)
    await store.put('chunks/ab/x', new Uint8Array([1]))
    const old = new Date(Date.now() - 3_600_000)
    const leftovers = ['.strata-tmp-1', 'chunks/.strata-tmp-2', 'chunks/ab/.strata-tmp-3']
    for (const name of leftovers) {
      await writeFile(join(root, name), 'partial write')
      await utimes(join(root, name), old, old)
    }
    await writeFile(join(root, 'chunks/ab/.strata-tmp-fresh'), 'in flight')
    const elsewhere = scratch.path('elsewhere')
    await mkdir(elsewhere)
    await writeFile(join(elsewhere, '.strata-tmp-not-ours'), 'x')
    await utimes(join(elsewhere, '.strata-tmp-not-ours'), old, old)
    await symlink(elsewhere, join(root, 'chunks', 'cd'))

    const listed: string[] = []
    for await (const l of store.listIncomplete(600_000)) {
      listed.push(l.name)
      expect(l.size).toBe('partial write'.length)
      expect(l.started.getTime()).toBeLessThan(Date.now() - 600_000)
    }
    expect(listed.sort()).toEqual([...leftovers].sort())
    expect(await store.removeIncomplete(600_000)).toBe(3)
    const left = (await readdir(root, { recursive: true })).filter(
      (p) => p.includes('.strata-tmp-') && !p.startsWith('chunks/cd/'), // readdir follows the planted link
    )
    expect(left).toEqual(['chunks/ab/.strata-tmp-fresh'])
    expect(await lstat(join(elsewhere, '.strata-tmp-not-ours'))).toBeDefined()
  })

  it('walks a large directory without reading it whole first', async () => {
    const root = scratch.path('repo')
    const store = new LocalStore(root)
    await mkdir(join(root, 'chunks', 'ab'), { recursive: true })
    const old = new Date(Date.now() - 3_600_000)
    for (let i = 0; i < 2000; i++) await writeFile(join(root, 'chunks', 'ab', `${i}`.padStart(64, '0')), '')
    await writeFile(join(root, 'chunks', 'ab', '.strata-tmp-z'), '')
    await utimes(join(root, 'chunks', 'ab', '.strata-tmp-z'), old, old)
    const found: string[] = []
    for await (const l of store.listIncomplete(0)) found.push(l.name)
    expect(found).toEqual(['chunks/ab/.strata-tmp-z'])
  })
})
