// The worker's link to its parent: once the parent is gone, what the worker says is dropped instead of
// throwing ERR_IPC_CHANNEL_CLOSED or raising EPIPE (either killed the worker before it undid its run's
// side effects); a real child whose parent is SIGKILLed mid-send lives on to its undo.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { parentLink } from './worker-child.js'

const ORPHAN_LINK = fileURLToPath(new URL('./testing/orphan-link.ts', import.meta.url))

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

describe('a worker whose parent is killed', () => {
  it('outlives its sends to the dead parent and gets to its undo', async () => {
    await using scratch = await scratchDir('strata-orphan-link-')
    const report = scratch.path('report')
    const parent = spawn(process.execPath, ['--import', 'tsx', ORPHAN_LINK, report], { stdio: 'inherit' })
    await new Promise((resolve) => parent.once('exit', resolve))
    const deadline = Date.now() + 20_000
    while (!existsSync(report) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(report) && readFileSync(report, 'utf8')).toBe('undone')
  }, 30_000)
})
