// The separate metrics address at start: one already taken stops the server's start with a typed error
// naming the address, and leaves nothing running (the same data directory starts again at once).
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StrataError } from '@strata/core'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { startTestServer } from '../testing/test-server.js'

describe('the metrics address', () => {
  let scratch: Scratch
  let taken: Server
  let port: number

  beforeAll(async () => {
    scratch = await scratchDir('strata-metrics-listen-')
    taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    port = (taken.address() as { port: number }).port
  })
  afterAll(async () => {
    await new Promise((resolve) => taken?.close(resolve))
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses to start on a taken address, naming it, and leaves nothing behind', async () => {
    const log: string[] = []
    const error = await startTestServer(scratch, {
      adminPassword: 'admin-password',
      metrics: { listen: `127.0.0.1:${port}` },
      echo: (line) => void log.push(line),
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StrataError)
    expect(error).toMatchObject({ code: 'METRICS_LISTEN_FAILED', retryable: false })
    expect((error as Error).message).toContain(`the metrics address 127.0.0.1:${port}`)
    expect((error as Error).message).toContain('EADDRINUSE')

    // Nothing of the failed start runs: the API never listened, and the data directory starts again.
    expect(log.filter((l) => l.includes('listening on'))).toEqual([])
    const again = await startTestServer(scratch, { adminPassword: 'admin-password' })
    expect((await fetch(`${again.url}/api/health`)).status).toBe(200)
    await again.close()
  })
})
