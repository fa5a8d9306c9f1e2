import { describe, expect, it } from 'vitest'
import { ByteQueue } from './byte-queue.js'

describe('ByteQueue', () => {
  it('hands out exact lengths at once when they have arrived, and never ahead of a waiting read', async () => {
    const queue = new ByteQueue()
    expect(queue.tryRead(4)).toBeUndefined()
    queue.consume(Buffer.from([1, 2]))
    expect(queue.tryRead(4)).toBeUndefined()
    queue.consume(Buffer.from([3, 4, 5]))
    expect([...queue.tryRead(4)!]).toEqual([1, 2, 3, 4])
    const waiting = queue.read(3)
    queue.consume(Buffer.from([6]))
    expect(queue.tryRead(1)).toBeUndefined() // the waiting read comes first
    queue.consume(Buffer.from([7, 8]))
    expect([...(await waiting)]).toEqual([5, 6, 7])
    expect([...queue.tryRead(1)!]).toEqual([8])
  })

  it('fails a waiting read when the stream ends short', async () => {
    const queue = new ByteQueue()
    const waiting = queue.read(8)
    queue.consume(Buffer.from([1, 2, 3]))
    queue.end(new Error('gone'))
    await expect(waiting).rejects.toMatchObject({ code: 'NBD_SHORT_REPLY' })
  })
})
