import { describe, expect, it } from 'vitest'
import { Semaphore } from './semaphore.js'
import { AbortedError } from './errors.js'

describe('Semaphore', () => {
  it('never lets more than capacity run at once', async () => {
    const sem = new Semaphore(3)
    let running = 0
    let peak = 0
    await Promise.all(
      Array.from({ length: 20 }, () =>
        sem.run(async () => {
          running++
          peak = Math.max(peak, running)
          await new Promise((r) => setTimeout(r, 1))
          running--
        }),
      ),
    )
    expect(peak).toBe(3)
    expect(running).toBe(0)
  })

  it('rejects a waiter whose signal aborts and keeps the slot count right', async () => {
    const sem = new Semaphore(1)
    await sem.acquire()
    const controller = new AbortController()
    const waiting = sem.acquire(controller.signal)
    controller.abort()
    await expect(waiting).rejects.toBeInstanceOf(AbortedError)
    expect(sem.pending).toBe(0)
    sem.release()
    await sem.acquire() // the slot is free again
  })
})
