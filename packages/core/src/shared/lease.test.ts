import { describe, expect, it } from 'vitest'
import { BufferPool, lease } from './lease.js'

describe('leases', () => {
  it('gives a buffer back once; a second release is an error', () => {
    const given: Buffer[] = []
    const l = lease(Buffer.alloc(8), (b) => given.push(b))
    l.release()
    expect(() => l.release()).toThrow(expect.objectContaining({ code: 'LEASE_RELEASED' }))
    expect(given).toHaveLength(1)
  })

  it('reuses released buffers of the same size, and counts what is lent', () => {
    const pool = new BufferPool({ shared: true, maxFree: 2 })
    const a = pool.lease(1 << 20)
    const b = pool.lease(1 << 20)
    expect(a.bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(a.bytes === b.bytes).toBe(false) // not .not.toBe: it formats both megabytes
    expect(pool.lent).toBe(2)
    a.release()
    const c = pool.lease(1 << 20)
    expect(c.bytes.buffer === a.bytes.buffer).toBe(true) // the same memory, in a new view
    expect(() => a.release()).toThrow(expect.objectContaining({ code: 'LEASE_RELEASED' }))
    expect(pool.lent).toBe(2) // the stale lease did not give c's buffer back
    b.release()
    c.release()
    expect(pool.lent).toBe(0)
    expect(pool.made).toBe(2)
    expect(pool.lease(4096).bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(new BufferPool().lease(1 << 20).bytes.buffer).not.toBeInstanceOf(SharedArrayBuffer)
  })

  it('keeps at most maxFree buffers and none below minPooled', () => {
    const pool = new BufferPool({ maxFree: 1, minPooled: 1024 })
    const small = pool.lease(100)
    small.release()
    expect(pool.lease(100).bytes === small.bytes).toBe(false)
    const [x, y] = [pool.lease(2048), pool.lease(2048)]
    x.release()
    y.release()
    const again = [pool.lease(2048), pool.lease(2048)]
    expect(again.filter((l) => l.bytes === x.bytes || l.bytes === y.bytes)).toHaveLength(1)
  })
})
