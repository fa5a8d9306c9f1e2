// The one conformance suite of ObjectStore: every store and every wrapper stack runs it, the S3 store
// against a real server. A store that passes can carry a repository. Test-only (imports vitest).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ObjectInfo, ObjectStore } from './object-store.js'

export interface ConformanceTarget {
  readonly store: ObjectStore
  /** Removes what the target created (scratch directories); store.close() is called before it. */
  readonly cleanup?: () => Promise<void>
}

export interface ConformanceOptions {
  /** Size of the large-object test; above an S3 store's multipart threshold to exercise parts. */
  readonly largeSize?: number
}

/** Keys and bytes that make one test independent of the others in a shared store. */
const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const all: ObjectInfo[] = []
  for await (const info of iterable) all.push(info)
  return all
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'OK',
    (error: unknown) => (error as { code?: string }).code ?? String(error),
  )
}

export function describeObjectStoreConformance(
  name: string,
  factory: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let target: ConformanceTarget
    let store: ObjectStore
    let n = 0
    /** A fresh key space per test: tests never see each other's objects. */
    const space = (): string => `t${++n}-${randomBytes(3).toString('hex')}/`

    beforeAll(async () => {
      target = await factory()
      store = target.store
    })
    afterAll(async () => {
      await store?.close?.()
      await target?.cleanup?.()
    })

    it('round-trips bytes exactly, including an empty object', async () => {
      const s = space()
      const data = bytes(100_003)
      await store.put(`${s}a`, data)
      await store.put(`${s}empty`, new Uint8Array(0))
      expect(Buffer.from(await store.get(`${s}a`)).equals(data)).toBe(true)
      expect((await store.get(`${s}empty`)).length).toBe(0)
      expect(await store.stat(`${s}a`)).toMatchObject({ key: `${s}a`, size: 100_003 })
      expect(await store.stat(`${s}empty`)).toMatchObject({ size: 0 })
    })

    it('answers NOT_FOUND for a missing object and undefined from stat', async () => {
      const s = space()
      expect(await codeOf(store.get(`${s}missing`))).toBe('NOT_FOUND')
      expect(await codeOf(store.getRange(`${s}missing`, 0, 10))).toBe('NOT_FOUND')
      expect(await store.stat(`${s}missing`)).toBeUndefined()
    })

    it('overwrites on a plain put and keeps the first object on a create-only put', async () => {
      const s = space()
      await store.put(`${s}k`, text('one'))
      await store.put(`${s}k`, text('two'))
      expect(new TextDecoder().decode(await store.get(`${s}k`))).toBe('two')
      expect(await codeOf(store.put(`${s}k`, text('three'), { ifNoneMatch: true }))).toBe('ALREADY_EXISTS')
      expect(new TextDecoder().decode(await store.get(`${s}k`))).toBe('two')
      await store.put(`${s}new`, text('four'), { ifNoneMatch: true })
      expect(new TextDecoder().decode(await store.get(`${s}new`))).toBe('four')
    })

    it('lets exactly one of many racing create-only puts win when conditionalCreate is claimed', async () => {
      const s = space()
      const candidates = Array.from({ length: 8 }, (_, i) => text(`writer ${i} ${'x'.repeat(i * 1000)}`))
      const results = await Promise.all(
        candidates.map((d) => codeOf(store.put(`${s}lock`, d, { ifNoneMatch: true }))),
      )
      const stored = Buffer.from(await store.get(`${s}lock`))
      if (!store.capabilities.conditionalCreate) {
        // Best effort only: at least one wins and the object is one writer's whole bytes.
        expect(results).toContain('OK')
        expect(candidates.some((c) => stored.equals(c))).toBe(true)
        return
      }
      expect(results.filter((r) => r === 'OK')).toHaveLength(1)
      expect(results.filter((r) => r === 'ALREADY_EXISTS')).toHaveLength(7)
      expect(stored.equals(candidates[results.indexOf('OK')] as Uint8Array)).toBe(true)
    })

    it('reads ranges: inside, across the end, past the end, empty', async () => {
      const s = space()
      const data = bytes(10_000)
      await store.put(`${s}r`, data)
      const range = async (offset: number, length: number) =>
        Buffer.from(await store.getRange(`${s}r`, offset, length))
      expect((await range(1234, 4321)).equals(data.subarray(1234, 1234 + 4321))).toBe(true)
      expect((await range(0, 1)).equals(data.subarray(0, 1))).toBe(true)
      expect((await range(9_990, 100)).equals(data.subarray(9_990))).toBe(true)
      expect((await range(10_000, 10)).length).toBe(0)
      expect((await range(50_000, 10)).length).toBe(0)
      expect((await range(5, 0)).length).toBe(0)
    })

    it('reads ranges into memory the caller gives, shared or not, or into its own', async () => {
      const s = space()
      const data = bytes(10_000)
      await store.put(`${s}i`, data)
      for (const into of [new Uint8Array(5000), new Uint8Array(new SharedArrayBuffer(5000))]) {
        into.fill(0xee)
        const read = await store.getRange(`${s}i`, 1234, 4321, { into })
        expect(Buffer.from(read).equals(data.subarray(1234, 1234 + 4321))).toBe(true)
        // Either a view of the caller's memory (nothing written past the range) or a buffer apart.
        if (read.buffer === into.buffer) expect(into[4321]).toBe(0xee)
        else expect(into.every((b) => b === 0xee)).toBe(true)
        const tail = await store.getRange(`${s}i`, 9_000, 4321, { into })
        expect(Buffer.from(tail).equals(data.subarray(9_000))).toBe(true)
      }
      // Too small to hold the range: ignored, never overrun.
      const small = new Uint8Array(10).fill(0xee)
      const read = await store.getRange(`${s}i`, 0, 4321, { into: small })
      expect(Buffer.from(read).equals(data.subarray(0, 4321))).toBe(true)
      expect(small.every((b) => b === 0xee)).toBe(true)
    })

    it('lists by prefix in key order, across directories and partial segments', async () => {
      const s = space()
      // No key is both an object and a 'directory' ('a' and 'a/b'): a file system cannot hold both.
      // '\uff21' sorts before '\u{1f600}' in UTF-8 bytes (S3's order) but after it in UTF-16 units.
      const keys = [
        'a-b',
        'a.b',
        'a/b',
        'a/c/d',
        'a0',
        'b/x y',
        'b/\u00e9t\u00e9',
        'b/\uff21',
        'b/\u{1f600}',
        'ab',
        'B',
      ]
      await Promise.all(keys.map((k) => store.put(`${s}${k}`, text(k))))
      const list = async (prefix: string) => (await collect(store.list(prefix))).map((i) => i.key)
      const sorted = keys.map((k) => s + k).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      expect(await list(s)).toEqual(sorted)
      expect(await list(`${s}a/`)).toEqual([`${s}a/b`, `${s}a/c/d`])
      expect(await list(`${s}a`)).toEqual(sorted.filter((k) => k.startsWith(`${s}a`)))
      expect(await list(`${s}b/`)).toEqual([
        `${s}b/x y`,
        `${s}b/\u00e9t\u00e9`,
        `${s}b/\uff21`,
        `${s}b/\u{1f600}`,
      ])
      expect(await list(`${s}zzz`)).toEqual([])
      expect(await list(`${s}a/c/d/e`)).toEqual([])
      const infos = await collect(store.list(`${s}a/c`))
      expect(infos).toMatchObject([{ key: `${s}a/c/d`, size: 5 }])
      // Keys only (the point index's listing): the same keys, in the same order, whatever a store skips.
      const keysOnly = async (prefix: string) =>
        (await collect(store.list(prefix, { keysOnly: true }))).map((i) => i.key)
      expect(await keysOnly(s)).toEqual(sorted)
      expect(await keysOnly(`${s}a`)).toEqual(sorted.filter((k) => k.startsWith(`${s}a`)))
    })

    it('lists many objects (past any page size) completely and in order', async () => {
      const s = space()
      const keys = Array.from({ length: 120 }, (_, i) => `${s}many/${String(i).padStart(4, '0')}`)
      for (let i = 0; i < keys.length; i += 20) {
        await Promise.all(keys.slice(i, i + 20).map((k) => store.put(k, text(k))))
      }
      expect((await collect(store.list(`${s}many/`))).map((i) => i.key)).toEqual(keys)
    })

    it('deletes idempotently and forgets the object everywhere', async () => {
      const s = space()
      await store.put(`${s}d/x`, text('x'))
      await store.delete(`${s}d/x`)
      await store.delete(`${s}d/x`)
      await store.delete(`${s}never`)
      expect(await store.stat(`${s}d/x`)).toBeUndefined()
      expect(await codeOf(store.get(`${s}d/x`))).toBe('NOT_FOUND')
      expect(await collect(store.list(`${s}d/`))).toEqual([])
      await store.put(`${s}d/x`, text('again'), { ifNoneMatch: true })
      expect(new TextDecoder().decode(await store.get(`${s}d/x`))).toBe('again')
    })

    it('rejects invalid keys with INVALID_KEY', async () => {
      for (const key of ['', '/abs', 'a//b', 'a/./b', 'a/../b', '..', 'a\\b', 'trailing/']) {
        expect(await codeOf(store.put(key, text('x'))), key).toBe('INVALID_KEY')
        expect(await codeOf(store.get(key)), key).toBe('INVALID_KEY')
      }
    })

    it('copies data in and out: callers cannot change stored bytes by mutating buffers', async () => {
      const s = space()
      const data = text('original')
      await store.put(`${s}c`, data)
      data.fill(0)
      const read = await store.get(`${s}c`)
      read.fill(0)
      expect(new TextDecoder().decode(await store.get(`${s}c`))).toBe('original')
      // The same from a Buffer (whose slice() is a view) and through ranged reads.
      await store.put(`${s}b`, Buffer.from('original'))
      ;(await store.getRange(`${s}b`, 0, 100)).fill(0)
      ;(await store.get(`${s}b`)).fill(0)
      expect(new TextDecoder().decode(await store.getRange(`${s}b`, 0, 100))).toBe('original')
    })

    it('round-trips a large object exactly', async () => {
      const s = space()
      const data = bytes(options.largeSize ?? 9 * 1024 * 1024)
      await store.put(`${s}large`, data)
      expect(Buffer.from(await store.get(`${s}large`)).equals(data)).toBe(true)
      const middle = Math.floor(data.length / 2) - 3
      expect(
        Buffer.from(await store.getRange(`${s}large`, middle, 4096)).equals(
          data.subarray(middle, middle + 4096),
        ),
      ).toBe(true)
      expect(await store.stat(`${s}large`)).toMatchObject({ size: data.length })
    })

    it('round-trips objects of chunk sizes exactly, aligned or not', async () => {
      // The sizes a local store writes with direct I/O: padded to blocks on disk, cut back after.
      const s = space()
      const sizes = [256 * 1024, 300 * 1024 + 3, 2 * 1024 * 1024 + 45, 4 * 1024 * 1024 + 64 * 1024]
      const objects = sizes.map((n) => bytes(n))
      await Promise.all(objects.map((data, i) => store.put(`${s}chunk${i}`, data)))
      for (const [i, data] of objects.entries()) {
        expect(Buffer.from(await store.get(`${s}chunk${i}`)).equals(data)).toBe(true)
        expect(await store.stat(`${s}chunk${i}`)).toMatchObject({ size: data.length })
      }
    })

    it('honours an aborted signal on every call', async () => {
      const s = space()
      await store.put(`${s}x`, text('x'))
      const signal = AbortSignal.abort(new Error('stop'))
      expect(await codeOf(store.put(`${s}y`, text('y'), { signal }))).toBe('ABORTED')
      expect(await codeOf(store.get(`${s}x`, { signal }))).toBe('ABORTED')
      expect(await codeOf(store.getRange(`${s}x`, 0, 1, { signal }))).toBe('ABORTED')
      expect(await codeOf(store.stat(`${s}x`, { signal }))).toBe('ABORTED')
      expect(await codeOf(store.delete(`${s}x`, { signal }))).toBe('ABORTED')
      expect(await codeOf(collect(store.list(s, { signal })))).toBe('ABORTED')
      expect(await store.stat(`${s}y`)).toBeUndefined()
      expect(await store.stat(`${s}x`)).toBeDefined()
    })
  })
}
