// The Ceph test server: concurrent clusters do not collide, a crashed owner leaves no daemon behind,
// and a start that cannot finish fails with the daemons' log tails and cleans up.
import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { requireBinary } from './binaries.js'
import { useS3Server } from './s3-inject.js'
import { startS3Server } from './s3-server.js'

requireBinary('radosgw')

/** Pids of live processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const cmdline = await readFile(join('/proc', entry, 'cmdline'), 'utf8').catch(() => '')
    if (cmdline.includes(text)) pids.push(Number(entry))
  }
  return pids
}

async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return check()
}

describe('startS3Server', () => {
  it('runs a second cluster beside the shared one; its daemons die with a SIGKILLed owner', async () => {
    const shared = useS3Server()
    const child = fork(join(import.meta.dirname, 'fixtures', 'start-s3-server.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: 'ignore',
    })
    const info = await new Promise<{ dir: string; endpoint: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { dir: string; endpoint: string }))
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)))
    })
    expect(info.endpoint).not.toBe(shared.endpoint)
    expect((await fetch(info.endpoint)).status).toBe(200)
    expect((await fetch(shared.endpoint)).status).toBe(200)
    expect((await processesMentioning(info.dir)).length).toBeGreaterThanOrEqual(3)
    child.kill('SIGKILL')
    const gone = async () => (await processesMentioning(info.dir)).length === 0 && !existsSync(info.dir)
    expect(await eventually(gone, 15_000)).toBe(true)
    expect((await fetch(shared.endpoint)).status).toBe(200)
  }, 90_000)

  it('fails a start that cannot finish in time with the log tails, and leaves nothing behind', async () => {
    const error = await startS3Server({ timeoutMs: 1500 }).then(
      async (server) => {
        await server.stop()
        return undefined
      },
      (e: unknown) => e as Error,
    )
    expect(error, 'the start should have timed out').toBeInstanceOf(Error)
    expect(error?.message).toMatch(/cannot start Ceph radosgw in (\S+):/)
    expect(error?.message).toContain('--- ')
    const dir = /in (\S+):/.exec(error?.message ?? '')?.[1] ?? ''
    expect(existsSync(dir)).toBe(false)
    expect(await eventually(async () => (await processesMentioning(dir)).length === 0, 5000)).toBe(true)
  })
})
