// A connection's requests in flight each wait on its signal (a block source racing a fetch against it):
// up to MAX_CONCURRENT of them is the design, not a leak, and must not raise Node's listener warning.
import { connect } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ByteQueue } from '../byte-queue.js'
import { Cmd, Opt } from '../codec/constants.js'
import { encodeOption } from '../codec/handshake.js'
import { encodeRequest } from '../codec/transmission.js'
import { staticExports, type BlockSource } from './block-source.js'
import { NbdServer } from './server.js'

const SIZE = 1024 * 1024
let release: () => void = () => {}
const gate = new Promise<void>((resolve) => (release = resolve))
let waiting = 0
const slow: BlockSource = {
  size: SIZE,
  read: async (_offset, length, signal) => {
    waiting++
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason)
      signal?.addEventListener('abort', onAbort, { once: true })
      void gate.then(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      })
    })
    return Buffer.alloc(length)
  },
}
let server: NbdServer
beforeAll(async () => {
  server = await NbdServer.listen({ profile: 'xapi', resolve: staticExports({ disk: slow }) })
})
afterAll(() => server.close())

it('keeps 16 reads in flight on one connection without a listener warning', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(w.name)
  process.on('warning', onWarning)
  const socket = connect({ host: '127.0.0.1', port: server.port! })
  const queue = new ByteQueue()
  socket.on('data', (c: Buffer) => queue.consume(c))
  socket.on('close', () => queue.end(new Error('closed')))
  try {
    await queue.read(18)
    socket.write(Buffer.from([0, 0, 0, 1]))
    socket.write(encodeOption(Opt.EXPORT_NAME, Buffer.from('disk')))
    await queue.read(134)
    for (let handle = 0; handle < 16; handle++)
      socket.write(encodeRequest({ flags: 0, type: Cmd.READ, handle, offset: handle * 4096, length: 4096 }))
    await expect.poll(() => waiting).toBe(16)
    release()
    for (let i = 0; i < 16; i++) await queue.read(16 + 4096)
    await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
    expect(warnings).not.toContain('MaxListenersExceededWarning')
  } finally {
    process.off('warning', onWarning)
    socket.destroy()
  }
})
