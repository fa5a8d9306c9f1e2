// The worker's link to its parent: once the parent is gone, what the worker says is dropped instead of
// throwing ERR_IPC_CHANNEL_CLOSED (which killed the worker before it undid its run's side effects).
import { describe, expect, it } from 'vitest'
import { parentLink } from './worker-child.js'

const closed = () => {
  const error = Object.assign(new Error('Channel closed'), { code: 'ERR_IPC_CHANNEL_CLOSED' })
  return {
    connected: false,
    send: (): boolean => {
      throw error
    },
  }
}

describe('parentLink', () => {
  it('drops messages once the parent is gone, and the last one resolves', async () => {
    const link = parentLink(closed() as never)
    expect(() => link.send({ type: 'release', id: 1 } as never)).not.toThrow()
    await expect(link.sendLast({ type: 'failed', error: { code: 'X', message: 'x' } })).resolves.toBe(
      undefined,
    )
  })

  it('sends while the parent is there, the last message resolving once it left', async () => {
    const sent: unknown[] = []
    const ipc = {
      connected: true,
      send: (message: unknown, _h?: unknown, _o?: unknown, done?: () => void): boolean => {
        sent.push(message)
        done?.()
        return true
      },
    }
    const link = parentLink(ipc as never)
    link.send({ type: 'release', id: 1 } as never)
    await link.sendLast({ type: 'failed', error: { code: 'X', message: 'x' } })
    expect(sent).toEqual([
      { type: 'release', id: 1 },
      { type: 'failed', error: { code: 'X', message: 'x' } },
    ])
  })
})
