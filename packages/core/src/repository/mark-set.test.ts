import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MarkSet } from './mark-set.js'

describe('MarkSet', () => {
  it('never forgets an added id and keeps false positives near 0.1 %', () => {
    const set = new MarkSet(20_000)
    const added = Array.from({ length: 20_000 }, () => randomBytes(32))
    for (const id of added) set.add(id)
    expect(added.every((id) => set.mayContain(id))).toBe(true)
    let false_ = 0
    for (let i = 0; i < 20_000; i++) if (set.mayContain(randomBytes(32))) false_++
    expect(false_).toBeLessThan(100) // 0.5 %
  })

  it('caps its memory', () => {
    expect(new MarkSet(1e9, 1024 * 1024).bytes).toBe(1024 * 1024)
  })

  it('skips zero ids in an index', () => {
    const set = new MarkSet(10)
    expect(set.addAll(Buffer.concat([Buffer.alloc(32), randomBytes(32)]))).toBe(1)
    expect(set.mayContain(Buffer.alloc(32))).toBe(false)
  })
})
