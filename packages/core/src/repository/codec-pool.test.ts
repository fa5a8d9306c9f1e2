import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { CodecPool } from './codec-pool.js'
import { chunkIdFunction } from './crypto/chunk-id.js'
import { KIND_CHUNK } from './format/constants.js'
import { decodeObject, encodeObject } from './object-codec.js'

const pool = new CodecPool(2)
afterAll(() => pool.close())

const idKey = randomBytes(32)
const dataKey = randomBytes(32)
const binding = randomBytes(32)

describe('CodecPool', () => {
  it('computes what the in-thread codec computes, on worker threads', async () => {
    const data = Buffer.concat([randomBytes(512 * 1024), Buffer.alloc(512 * 1024, 9)])
    expect((await pool.chunkId(data, idKey)).equals(chunkIdFunction(idKey)(data))).toBe(true)
    expect((await pool.chunkId(data, undefined)).equals(chunkIdFunction(undefined)(data))).toBe(true)
    for (const key of [dataKey, undefined]) {
      const encoded = await pool.encode(KIND_CHUNK, data, binding, { dataKey: key, level: 3 })
      expect(Buffer.from(decodeObject(encoded, KIND_CHUNK, binding, key, 'x')).equals(data)).toBe(true)
      const inThread = encodeObject(KIND_CHUNK, data, binding, { dataKey: key, level: 3 })
      const shared = new Uint8Array(new SharedArrayBuffer(data.length))
      const decoded = await pool.decodeInto(shared, inThread, KIND_CHUNK, binding, key, 'x')
      expect(Buffer.from(decoded).equals(data)).toBe(true)
    }
    // The caller's buffer is left alone by id and encode (it may reuse it afterwards).
    expect(data.length).toBe(1024 * 1024)
  })

  it('hashes and encodes a staged copy, and reuses its slot once released', async () => {
    const data = randomBytes(300 * 1024)
    const staged = pool.stage(data)
    expect(staged.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
    data.fill(7) // the caller's buffer is free again as soon as it is staged
    const original = Buffer.from(staged.bytes)
    expect((await pool.chunkId(staged.bytes, idKey)).equals(chunkIdFunction(idKey)(original))).toBe(true)
    const encoded = await pool.encode(KIND_CHUNK, staged.bytes, binding, { dataKey, level: 1 })
    expect(Buffer.from(decodeObject(encoded, KIND_CHUNK, binding, dataKey, 'x')).equals(original)).toBe(true)
    staged.release()
    staged.release() // twice is harmless: the slot is not handed out twice
    const a = pool.stage(data)
    const b = pool.stage(data)
    expect(a.bytes.buffer).toBe(staged.bytes.buffer)
    expect(b.bytes.buffer).not.toBe(a.bytes.buffer)
    a.release()
    b.release()
    // Data in shared memory already is taken as it is.
    const shared = new Uint8Array(new SharedArrayBuffer(300 * 1024))
    expect(pool.stage(shared).bytes).toBe(shared)
    // Small data is not worth a slot.
    const small = Buffer.alloc(1000, 1)
    expect(pool.stage(small).bytes).toBe(small)
  })

  it('encodes into reused shared memory, exactly what encode makes', async () => {
    const data = randomBytes(500 * 1024)
    for (const key of [dataKey, undefined]) {
      const first = await pool.encodeShared(KIND_CHUNK, data, binding, {
        dataKey: key,
        level: 1,
        sha256: true,
      })
      expect(first.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
      const decoded = decodeObject(Buffer.from(first.bytes), KIND_CHUNK, binding, key, 'x')
      expect(Buffer.from(decoded).equals(data)).toBe(true)
      // The hash a store sends, computed on the worker: that of the encoded bytes.
      expect(first.sha256).toBe(createHash('sha256').update(first.bytes).digest('hex'))
      if (key === undefined) {
        // Without a key the encoding is deterministic: byte for byte the in-thread one.
        const inThread = encodeObject(KIND_CHUNK, data, binding, { dataKey: key, level: 1 })
        expect(Buffer.from(first.bytes).equals(inThread)).toBe(true)
      }
      const slot = first.bytes.buffer
      first.release()
      const second = await pool.encodeShared(KIND_CHUNK, data, binding, { dataKey: key, level: 1 })
      expect(second.bytes.buffer).toBe(slot) // the released slot serves the next object
      second.release()
    }
    // A failed encoding gives its slot back too.
    await expect(
      pool.encodeShared(KIND_CHUNK, data, binding, { dataKey: Buffer.alloc(3), level: 1 }),
    ).rejects.toThrow()
    const after = await pool.encodeShared(KIND_CHUNK, data, binding, { dataKey, level: 1 })
    after.release()
  })

  it("decodes into the caller's memory, on a worker when it is shared, else in this thread", async () => {
    const size = 1 << 20
    const random = randomBytes(size)
    const zeros = Buffer.alloc(size) // compresses to a few bytes: decoded in this thread
    const shared = new Uint8Array(new SharedArrayBuffer(size + 1))
    const own = new Uint8Array(size + 1)
    for (const key of [dataKey, undefined])
      for (const data of [random, zeros])
        for (const out of [shared, own]) {
          out.fill(0xee)
          const encoded = encodeObject(KIND_CHUNK, data, binding, { dataKey: key, level: 1 })
          const plain = await pool.decodeInto(out, encoded, KIND_CHUNK, binding, key, 'x')
          expect(plain.buffer).toBe(out.buffer)
          expect(Buffer.from(plain).equals(data)).toBe(true)
          expect(out[size]).toBe(0xee)
        }
    // More plaintext than the caller has room for is corrupt, not an overflow.
    const big = encodeObject(KIND_CHUNK, randomBytes(size + 2), binding, { dataKey, level: 1 })
    await expect(pool.decodeInto(shared, big, KIND_CHUNK, binding, dataKey, 'chunk y')).rejects.toMatchObject(
      { code: 'CORRUPT_OBJECT', message: /chunk y is corrupt: length/ },
    )
  })

  it('keeps many requests apart across workers', async () => {
    // More than the shared slots at once: the rest go as posted copies.
    const inputs = Array.from({ length: 40 }, () => randomBytes(100 * 1024))
    const ids = await Promise.all(inputs.map((d) => pool.chunkId(d, idKey)))
    ids.forEach((id, i) => expect(id.equals(chunkIdFunction(idKey)(inputs[i]!))).toBe(true))
  })

  it('reports corrupt objects with their code, from the worker', async () => {
    const encoded = encodeObject(KIND_CHUNK, randomBytes(200 * 1024), binding, { dataKey, level: 1 })
    encoded[encoded.length - 100]! ^= 1
    const out = new Uint8Array(new SharedArrayBuffer(200 * 1024))
    await expect(
      pool.decodeInto(out, encoded, KIND_CHUNK, binding, dataKey, 'chunk x'),
    ).rejects.toMatchObject({
      name: 'RepositoryError',
      code: 'CORRUPT_OBJECT',
      message: 'chunk x is corrupt: authentication failed',
    })
  })

  it('fails the requests of a worker that stops, and starts a new one for the next', async () => {
    const single = new CodecPool(1)
    try {
      const data = randomBytes(4 * 1024 * 1024)
      await single.chunkId(data, idKey) // started
      const pending = single.chunkId(data, idKey)
      // Listened to before close(), which rejects it at once.
      const failed = expect(pending).rejects.toMatchObject({ code: 'INTERNAL' })
      await single.close()
      await failed
      expect((await single.chunkId(data, idKey)).equals(chunkIdFunction(idKey)(data))).toBe(true)
    } finally {
      await single.close()
    }
  })
})

describe('CodecPool and the process', () => {
  it('never keeps a process alive: one that started the workers and used them exits', () => {
    const url = new URL('./codec-pool.ts', import.meta.url).href
    const script = `import { CodecPool } from '${url}'
      CodecPool.shared().warm()
      await CodecPool.shared().chunkId(new Uint8Array(1 << 20), undefined)
      new CodecPool(1).warm()
      console.log('done')`
    const started = Date.now()
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(run.stderr).toBe('')
    expect(run.signal).toBeNull() // not killed by the timeout
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe('done')
    expect(Date.now() - started).toBeLessThan(20_000)
  })
})
