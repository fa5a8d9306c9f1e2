import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { bodyChunks } from './body-chunks.js'

const chunk = (i: number) => Buffer.alloc(5, i)

/** A stream holding `n` chunks already pushed (as a body does whose reader lagged), then ended. */
function piledUp(n: number, end = true): Readable {
  const stream = new Readable({ read() {} })
  for (let i = 0; i < n; i++) stream.push(chunk(i))
  if (end) stream.push(null)
  return stream
}

describe('bodyChunks', () => {
  it('passes each chunk on as it came, even when many piled up (never concatenated)', async () => {
    const got: Buffer[] = []
    for await (const c of bodyChunks(piledUp(10))) got.push(c)
    expect(got.map((c) => c.length)).toEqual(Array(10).fill(5))
    expect(Buffer.concat(got)).toEqual(Buffer.concat(Array.from({ length: 10 }, (_, i) => chunk(i))))
  })

  it('pauses the stream while 64 chunks wait, and resumes it once they are taken', async () => {
    const stream = new Readable({ read() {} })
    const chunks = bodyChunks(stream)
    const first = chunks.next()
    for (let i = 0; i < 100; i++) stream.push(chunk(i))
    await first
    await new Promise((resolve) => setImmediate(resolve))
    expect(stream.isPaused()).toBe(true)
    let count = 1
    for (; count < 100; count++) await chunks.next()
    expect(stream.isPaused()).toBe(false)
    stream.push(null)
    expect((await chunks.next()).done).toBe(true)
  })

  it("throws the stream's error", async () => {
    const stream = piledUp(2, false)
    const chunks = bodyChunks(stream)
    await chunks.next()
    stream.destroy(new Error('connection reset'))
    await expect(
      (async () => {
        for await (const c of chunks) void c
      })(),
    ).rejects.toThrow('connection reset')
  })

  it('fails a body that closed before its end as a premature close', async () => {
    const stream = piledUp(1, false)
    const chunks = bodyChunks(stream)
    await chunks.next()
    stream.destroy()
    await expect(chunks.next()).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' })
  })

  it('lets go of the stream when the consumer stops early', async () => {
    const stream = piledUp(5, false)
    for await (const c of bodyChunks(stream)) {
      void c
      break
    }
    expect(stream.listenerCount('data')).toBe(0)
    expect(stream.listenerCount('close')).toBe(0)
  })
})
