// Seeded fuzzing of both readers. Every mutated file or stream must end in a VhdError (with a code) or
// in a read that is consistent, within time and memory bounds. STRATA_FUZZ_SEED / STRATA_FUZZ_CASES
// reproduce or extend a run; a failure message names the seed and case.
import { describe, expect, it } from 'vitest'
import { FOOTER_SIZE, F_CHECKSUM, H_CHECKSUM } from './constants.js'
import { maskUnsetSectors } from './bitmap.js'
import { vhdChecksum, view } from './bytes.js'
import { openVhd } from './disk.js'
import { VhdError } from './errors.js'
import { encodeFooter } from './footer.js'
import { relativeLocators } from './locators.js'
import { chunkedSource, collectBytes, memoryAccess } from './memory-access.js'
import { openVhdStream } from './stream-reader.js'
import { planVhd, writeVhd, type VhdPlan, type VhdPlanOptions } from './writer.js'

const SEED = Number(process.env.STRATA_FUZZ_SEED ?? 20261121)
const CASES = Number(process.env.STRATA_FUZZ_CASES ?? 5000)
const blockSize = 512 * 1024
const size = 2 * 1024 * 1024

class Rng {
  constructor(private state: number) {}
  next(): number {
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state
  }
  int(n: number): number {
    return this.next() % n
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
}

interface Sample {
  name: string
  bytes: Uint8Array
  plan?: VhdPlan
}

async function sample(name: string, options: VhdPlanOptions): Promise<Sample> {
  const plan = planVhd(options)
  const rng = new Rng(plan.blockIndexes.length + 1)
  const blocks = [...plan.blockIndexes].map((index) => ({
    index,
    data: Uint8Array.from({ length: blockSize }, () => rng.int(256)),
  }))
  return { name, bytes: await collectBytes(writeVhd(plan, blocks)), plan }
}

function fixedSample(): Sample {
  const data = new Uint8Array(1024 * 1024).fill(0xab)
  const footer = { ...planVhd({ size: data.length, blockIndexes: [] }).footer, diskType: 'fixed' as const }
  const bytes = new Uint8Array(data.length + FOOTER_SIZE)
  bytes.set(data)
  bytes.set(encodeFooter({ ...footer, dataOffset: undefined }), data.length)
  return { name: 'fixed', bytes }
}

const interesting = [0, 1, 2, 511, 512, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1536, 2048, 4096]
// (offset, width) of footer and header fields that steer parsing.
const footerFields = [
  [16, 8],
  [40, 8],
  [48, 8],
  [60, 4],
  [56, 4],
] as const
const headerFields = [
  [8, 8],
  [16, 8],
  [28, 4],
  [32, 4],
  [576, 4],
  [584, 4],
  [592, 8],
] as const

function fixChecksums(b: Uint8Array): void {
  if (b.length >= 512) view(b).setUint32(F_CHECKSUM, vhdChecksum(b.subarray(0, 512), F_CHECKSUM))
  if (b.length >= 1536) view(b).setUint32(512 + H_CHECKSUM, vhdChecksum(b.subarray(512, 1536), H_CHECKSUM))
  if (b.length >= 1024) {
    const tail = b.subarray(b.length - 512)
    view(tail).setUint32(F_CHECKSUM, vhdChecksum(tail, F_CHECKSUM))
  }
}

function setField(b: Uint8Array, offset: number, width: number, value: number): void {
  if (offset + width > b.length) return
  if (width === 8) view(b).setBigUint64(offset, BigInt(value) * BigInt(1 + (value & 3) * 1000))
  else view(b).setUint32(offset, value >>> 0)
}

/** Applies one random mutation, in place or (when the length changes) into a new array. */
function mutate(rng: Rng, b: Uint8Array): Uint8Array {
  switch (rng.int(7)) {
    case 0: // bit flips in the metadata, checksums left wrong
      for (let i = rng.int(4); i >= 0; i--) b[rng.int(Math.min(b.length, 4096))]! ^= 1 << rng.int(8)
      return b
    case 1: // bit flips in the metadata, checksums repaired so that deeper checks run
      for (let i = rng.int(4); i >= 0; i--) b[rng.int(Math.min(b.length, 4096))]! ^= 1 << rng.int(8)
      fixChecksums(b)
      return b
    case 2: {
      const [offset, width] = rng.pick([
        ...footerFields.map(([o, w]) => [o, w] as const),
        ...headerFields.map(([o, w]) => [512 + o, w] as const),
      ])
      setField(b, offset, width, rng.pick(interesting))
      fixChecksums(b)
      return b
    }
    case 3: // BAT entries pointing anywhere
      for (let i = rng.int(3); i >= 0; i--)
        setField(
          b,
          1536 + 4 * rng.int(8) + (rng.int(2) ? 1024 : 0),
          4,
          rng.pick([...interesting, rng.next()]),
        )
      return b
    case 4:
      return b.slice(0, rng.int(b.length))
    case 5: {
      // insert or delete a range
      const at = rng.int(b.length)
      const n = 1 + rng.int(4096)
      if (rng.int(2))
        return Buffer.concat([b.subarray(0, at), new Uint8Array(n).fill(rng.int(256)), b.subarray(at)])
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))])
    }
    default: // random bytes anywhere, data included
      for (let i = rng.int(16); i >= 0; i--) b[rng.int(b.length)] = rng.int(256)
      return b
  }
}

type Outcome = { error: string } | { blocks: Map<number, Uint8Array> }

async function viaStream(b: Uint8Array, rng: Rng): Promise<Outcome> {
  try {
    const stream = await openVhdStream(chunkedSource(b, [1 + rng.int(600), 1000 + rng.int(100_000)]))
    const blocks = new Map<number, Uint8Array>()
    for await (const block of stream.blocks()) {
      expect(block.data.length).toBe(stream.blockSize)
      expect(block.index).toBeLessThan(stream.blockCount)
      expect(blocks.has(block.index)).toBe(false)
      blocks.set(block.index, block.data)
    }
    return { blocks }
  } catch (error) {
    return { error: codeOf(error) }
  }
}

async function viaFile(b: Uint8Array): Promise<Outcome> {
  try {
    const disk = await openVhd(memoryAccess(b))
    const blocks = new Map<number, Uint8Array>()
    for (let i = 0; i < disk.blockCount; i++) {
      const block = await disk.readBlock(i)
      if (block === undefined) continue
      expect(block.data.length).toBe(disk.blockSize)
      // A dynamic disk's clear sectors read as zeros (the stream reader yields them so).
      const dynamicPartial = !block.full && disk.footer.diskType === 'dynamic'
      if (disk.bat !== undefined)
        blocks.set(
          i,
          dynamicPartial ? maskUnsetSectors(block.data, block.bitmap, disk.blockSize / 512) : block.data,
        )
    }
    return { blocks }
  } catch (error) {
    return { error: codeOf(error) }
  }
}

function codeOf(error: unknown): string {
  if (error instanceof VhdError && /^VHD_[A-Z_]+$/.test(error.code)) return error.code
  throw error // anything else (TypeError, RangeError, an assertion) fails the test
}

describe('VHD readers under fuzzing', () => {
  it(
    `end in a typed error or a consistent read (seed ${SEED}, ${CASES} cases)`,
    { timeout: 120_000 },
    async () => {
      const samples = [
        await sample('dynamic', { size, blockSize, blockIndexes: [0, 3], timestamp: 1 }),
        await sample('differencing', {
          size,
          blockSize,
          blockIndexes: [1],
          parent: {
            uuid: new Uint8Array(16).fill(9),
            timestamp: 5,
            unicodeName: 'p.vhd',
            locators: relativeLocators('p.vhd'),
          },
        }),
        fixedSample(),
      ]
      const rng = new Rng(SEED)
      const codes = new Map<string, number>()
      const rssStart = process.memoryUsage().rss
      let slowest = 0
      for (let n = 0; n < CASES; n++) {
        const s = rng.pick(samples)
        let bytes: Uint8Array = s.bytes.slice()
        for (let m = rng.int(3); m >= 0; m--) bytes = mutate(rng, bytes)
        const started = performance.now()
        const context = `seed ${SEED} case ${n} (${s.name})`
        const [stream, file] = await Promise.all([viaStream(bytes, rng), viaFile(bytes)]).catch(
          (error: unknown) => {
            throw new Error(`${context}: ${String(error)}`, { cause: error })
          },
        )
        slowest = Math.max(slowest, performance.now() - started)
        for (const o of [stream, file]) {
          const key = 'error' in o ? o.error : 'read'
          codes.set(key, (codes.get(key) ?? 0) + 1)
        }
        if ('blocks' in stream && 'blocks' in file && s.name !== 'fixed') {
          // Both readers accepted the bytes: they must agree on every block they both returned.
          for (const [index, data] of stream.blocks) {
            const other = file.blocks.get(index)
            if (other !== undefined) expect(Buffer.compare(data, other), context).toBe(0)
          }
        }
      }
      expect(slowest, 'slowest case in ms').toBeLessThan(2000)
      expect(process.memoryUsage().rss - rssStart, 'RSS growth').toBeLessThan(512 * 1024 * 1024)
      // The corpus must reach deep checks, not stop at the cookie: these codes all have to show up.
      for (const code of [
        'read',
        'VHD_TRUNCATED',
        'VHD_BAD_CHECKSUM',
        'VHD_BAT_OUT_OF_RANGE',
        'VHD_BAT_OVERLAP',
        'VHD_SIZE_LIMIT',
      ]) {
        expect(codes.get(code) ?? 0, `outcomes: ${JSON.stringify([...codes])}`).toBeGreaterThan(0)
      }
    },
  )

  it('reads exactly the mutated bytes when only block data is changed', async () => {
    const s = await sample('dynamic', { size, blockSize, blockIndexes: [0, 3], timestamp: 1 })
    const plan = s.plan!
    const rng = new Rng(SEED ^ 0xdada)
    for (let n = 0; n < 200; n++) {
      const bytes = s.bytes.slice()
      const k = rng.int(2)
      const dataStart = plan.head.length + k * (512 + blockSize) + 512
      const at = rng.int(blockSize)
      bytes[dataStart + at] = (bytes[dataStart + at]! + 1 + rng.int(255)) & 0xff
      const expected = bytes.subarray(dataStart, dataStart + blockSize)
      const index = plan.blockIndexes[k]!
      for (const outcome of [await viaStream(bytes, rng), await viaFile(bytes)]) {
        expect('blocks' in outcome, `case ${n}`).toBe(true)
        if ('blocks' in outcome) expect(Buffer.compare(outcome.blocks.get(index)!, expected)).toBe(0)
      }
    }
  })
})
