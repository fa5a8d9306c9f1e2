// The immutable attribute of a local store with the real chattr: set in batches (not one process per
// object), a failed batch fails each of its objects with a typed error naming the store, dates kept
// beside objects never listed and never valid keys.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir } from '../testing/index.js'
import { AttributeBatcher, chattr } from './local-immutable.js'
import { LocalStore } from './local-store.js'

requireBinary('chattr')
const run = promisify(execFile)
const scratch = await scratchDir('strata-chattr-')
afterAll(async () => {
  await run('chattr', ['-R', '-f', '-i', scratch.dir]).catch(() => undefined)
  await scratch[Symbol.asyncDispose]()
})

describe('AttributeBatcher', () => {
  it('sets the attribute of 100 objects put at once with a few chattr processes', async () => {
    const calls: number[] = []
    const batcher = new AttributeBatcher('test', async (flag, paths) => {
      calls.push(paths.length)
      await chattr(flag, paths)
    })
    const paths = Array.from({ length: 100 }, (_, i) => scratch.path(`f${i}`))
    await Promise.all(paths.map((p) => writeFile(p, 'x')))
    await Promise.all(paths.map((p) => batcher.apply('+i', p)))
    expect(calls.reduce((a, b) => a + b, 0)).toBe(100)
    expect(calls.length).toBeLessThanOrEqual(2) // the first alone, then all that queued meanwhile
    const { stdout } = await run('lsattr', paths)
    expect(stdout.split('\n').filter((l) => /^\S*i\S* /.test(l))).toHaveLength(100)
    await Promise.all(paths.map((p) => batcher.apply('-i', p)))
  })

  it('fails every object of a failed batch with STORE_FAILED naming the store', async () => {
    const batcher = new AttributeBatcher('local:/nowhere')
    await expect(batcher.apply('+i', scratch.path('absent'))).rejects.toMatchObject({
      code: 'STORE_FAILED',
      message: expect.stringMatching(/cannot make 1 objects immutable in local:\/nowhere: .*No such file/),
    })
  })
})

describe('LocalStore dates of immutable objects', () => {
  it('keeps the date beside the object, never lists it and refuses its name as a key', async () => {
    const store = new LocalStore(scratch.path('store'))
    const until = new Date(Date.now() + 60_000)
    await store.put('chunks/ab/abc', new Uint8Array(4), { retain: { mode: 'COMPLIANCE', until } })
    const listed: string[] = []
    for await (const info of store.list('')) listed.push(info.key)
    expect(listed).toEqual(['chunks/ab/abc'])
    expect(await store.objectLock.retention('chunks/ab/abc')).toEqual({ mode: 'COMPLIANCE', until })
    await expect(store.put('chunks/ab/.strata-until-abc', new Uint8Array(1))).rejects.toMatchObject({
      code: 'INVALID_KEY',
    })
    await expect(store.delete('chunks/ab/abc')).rejects.toMatchObject({
      code: 'OBJECT_LOCKED',
      message: expect.stringContaining(until.toISOString()),
    })
    await expect(store.objectLock.retention('chunks/ab/none')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
