import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { readBody } from './s3-body.js'

const body = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)))

describe('readBody', () => {
  it("gathers the pieces into an array of its own, or into the caller's when it is large enough", async () => {
    const own = await readBody({ Body: body('abc', 'def'), ContentLength: 6 }, 'x', undefined)
    expect(Buffer.from(own).toString()).toBe('abcdef')
    const into = new Uint8Array(new SharedArrayBuffer(8)).fill(0x2e)
    const lent = await readBody({ Body: body('abc', 'def'), ContentLength: 6 }, 'x', undefined, into)
    expect(lent.buffer).toBe(into.buffer)
    expect(Buffer.from(into).toString()).toBe('abcdef..')
    const small = new Uint8Array(4)
    const apart = await readBody({ Body: body('abc', 'def') }, 'x', undefined, small)
    expect(apart.buffer).not.toBe(small.buffer)
    expect(Buffer.from(apart).toString()).toBe('abcdef')
    expect(small.every((b) => b === 0)).toBe(true)
  })

  it("refuses a body shorter than its Content-Length, into the caller's memory or not", async () => {
    for (const into of [undefined, new Uint8Array(16)])
      await expect(
        readBody({ Body: body('abc'), ContentLength: 6 }, 'x', undefined, into),
      ).rejects.toMatchObject({
        code: 'TRANSIENT',
      })
  })

  it("copies each piece into the caller's memory as it arrives, and never past the announced length", async () => {
    const into = new Uint8Array(new SharedArrayBuffer(8)).fill(0x2e)
    let seenBeforeSecond = ''
    async function* pieces(): AsyncGenerator<Buffer> {
      yield Buffer.from('abc')
      seenBeforeSecond = Buffer.from(into.subarray(0, 3)).toString()
      yield Buffer.from('def')
    }
    const lent = await readBody({ Body: pieces(), ContentLength: 6 }, 'x', undefined, into)
    expect(seenBeforeSecond).toBe('abc')
    expect(Buffer.from(lent).toString()).toBe('abcdef')
    const guarded = new Uint8Array(8).fill(0x2e)
    await expect(
      readBody({ Body: body('abc', 'defgh'), ContentLength: 6 }, 'x', undefined, guarded),
    ).rejects.toMatchObject({ code: 'TRANSIENT', message: 'x: body has at least 8 of 6 bytes' })
    expect(Buffer.from(guarded).toString()).toBe('abc.....')
  })
})
