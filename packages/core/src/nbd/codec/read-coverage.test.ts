import { describe, expect, it } from 'vitest'
import { incompleteRead, ReadCoverage } from './read-coverage.js'

const request = { offset: 1000, length: 100 }

/** Byte-by-byte model: the truth the interval bookkeeping must match. */
function model(parts: readonly [number, number][]): { overlap: boolean; covered: boolean[] } {
  const covered = new Array<boolean>(100).fill(false)
  for (const [at, length] of parts) {
    for (let i = at; i < at + length; i++) {
      if (covered[i]) return { overlap: true, covered }
      covered[i] = true
    }
  }
  return { overlap: false, covered }
}

describe('ReadCoverage', () => {
  it('accepts a tiling in any order and finds no gap', () => {
    const c = new ReadCoverage()
    for (const [at, length] of [[50, 25], [0, 10], [75, 25], [10, 40]] as const) c.add(at, length, request) // prettier-ignore
    expect(c.covered).toBe(100)
    expect(c.firstGap(100)).toBeUndefined()
  })

  it('matches a byte-by-byte model on random chunk sequences', () => {
    let seed = 7
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    for (let round = 0; round < 2000; round++) {
      const parts: [number, number][] = Array.from({ length: 1 + rand(6) }, () => {
        const at = rand(100)
        return [at, rand(100 - at + 1)]
      })
      const expected = model(parts)
      const c = new ReadCoverage()
      const add = (): void => parts.forEach(([at, length]) => c.add(at, length, request))
      if (expected.overlap) {
        expect(add).toThrow(expect.objectContaining({ code: 'NBD_OVERLAPPING_REPLY' }))
        continue
      }
      add()
      const firstMissing = expected.covered.indexOf(false)
      const gap = c.firstGap(100)
      if (firstMissing === -1) expect(gap).toBeUndefined()
      else {
        const end = expected.covered.indexOf(true, firstMissing)
        expect(gap).toEqual({ at: firstMissing, length: (end === -1 ? 100 : end) - firstMissing })
      }
      expect(c.covered).toBe(expected.covered.filter(Boolean).length)
    }
  })

  it('names the first gap of an incomplete read in absolute offsets', () => {
    const c = new ReadCoverage()
    c.add(0, 30, request)
    c.add(60, 40, request)
    expect(incompleteRead(request, c)).toMatchObject({
      code: 'NBD_INCOMPLETE_REPLY',
      details: { offset: 1030, length: 30 },
    })
    expect(incompleteRead(request, undefined).details).toEqual({ offset: 1000, length: 100 })
  })
})
