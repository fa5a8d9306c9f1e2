import { readdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { describeObjectStoreConformance } from './conformance.js'
import { checkAllWhole, killWriterRepeatedly } from './fixtures/crash-writer.js'
import { LocalStore } from './local-store.js'
import { openStore, wrap } from './open-store.js'

async function localTarget() {
  const scratch = await scratchDir('strata-local-store-')
  return { store: new LocalStore(scratch.path('repo')), cleanup: () => scratch[Symbol.asyncDispose]() }
}

describeObjectStoreConformance('local directory', localTarget)

describeObjectStoreConformance('local directory through openStore, with every wrapper', async () => {
  const scratch = await scratchDir('strata-local-store-')
  const store = await openStore(
    `file://${scratch.path('repo')}`,
    {},
    { concurrency: 4, logger: () => undefined },
  )
  expect(store.name).toBe(`local:${scratch.path('repo')}`)
  return { store, cleanup: () => scratch[Symbol.asyncDispose]() }
})

describe('LocalStore', () => {
  it('never lists temp files and reserves their names', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir)
    await store.put('d/a', new Uint8Array([1]))
    await writeFile(join(scratch.dir, 'd', '.strata-tmp-deadbeef'), 'partial')
    const keys: string[] = []
    for await (const info of store.list('')) keys.push(info.key)
    expect(keys).toEqual(['d/a'])
    await expect(store.put('d/.strata-tmp-x', new Uint8Array([1]))).rejects.toMatchObject({
      code: 'INVALID_KEY',
    })
  })

  it('removes only old leftovers of interrupted puts', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir)
    await store.put('d/a', new Uint8Array([1]))
    const old = join(scratch.dir, 'd', '.strata-tmp-old')
    await writeFile(old, 'partial')
    await utimes(old, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    await writeFile(join(scratch.dir, '.strata-tmp-fresh'), 'in flight')
    // Through the wrapper stack, as the repository sees it.
    expect(await wrap(store, { logger: () => undefined }).removeIncomplete?.(600_000)).toBe(1)
    expect((await readdir(scratch.dir, { recursive: true })).sort()).toEqual([
      '.strata-tmp-fresh',
      'd',
      'd/a',
    ])
    expect(await new LocalStore(scratch.path('absent')).removeIncomplete(0)).toBe(0)
  })

  it('leaves no temp file behind after puts, create-only or not, and after a refused create', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir)
    await store.put('k', new Uint8Array([1]), { ifNoneMatch: true })
    await store.put('k', new Uint8Array([2]))
    await expect(store.put('k', new Uint8Array([3]), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
    expect(await readdir(scratch.dir)).toEqual(['k'])
  })

  it('maps a key that runs through an object to a failure, not to data', async () => {
    await using scratch = await scratchDir()
    const store = new LocalStore(scratch.dir)
    await store.put('file', new Uint8Array([1]))
    await expect(store.put('file/child', new Uint8Array([1]))).rejects.toMatchObject({ code: 'STORE_FAILED' })
    await expect(store.get('file/child')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await store.stat('file/child')).toBeUndefined()
  })

  it('keeps every object whole when the writer is SIGKILLed mid-put, many times', async () => {
    await using scratch = await scratchDir()
    const root = scratch.path('repo')
    await killWriterRepeatedly(root, 8)
    const { checked, bad } = await checkAllWhole(new LocalStore(root))
    expect(bad).toEqual([])
    expect(checked).toBeGreaterThanOrEqual(8)
    // Proof that kills landed mid-put: interrupted writes left temp files (which list() never shows).
    const leftovers = (await readdir(root, { recursive: true })).filter((p) => p.includes('.strata-tmp-'))
    expect(leftovers.length).toBeGreaterThan(0)
  }, 60_000)
})
