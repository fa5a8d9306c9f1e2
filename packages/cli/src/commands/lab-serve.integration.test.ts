import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { requireBinary, scratchDir } from '@strata/core/testing'
import { main } from '../main.js'

describe('strata lab serve', () => {
  it('prints the URL and credentials as JSON, answers logins, and stops on abort', async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const controller = new AbortController()
    const done = main(['lab', 'serve', '--json'], { stdout, stderr }, controller.signal)
    const [line] = (await new Promise<Buffer>((resolve) => stdout.once('data', resolve)))
      .toString()
      .split('\n')
    const info = JSON.parse(line!) as {
      url: string
      user: string
      password: string
      nbdPort: number
      vms: string[]
    }
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(info.nbdPort).toBeGreaterThan(0)
    expect(info.vms).toEqual(['db-01', 'web-01'])
    const res = await fetch(`${info.url}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'session.login_with_password',
        params: [info.user, info.password],
      }),
    })
    expect(((await res.json()) as { result: string }).result).toMatch(/^OpaqueRef:/)
    controller.abort()
    expect(await done).toBe(0)
  })

  it('keeps its state in --data-dir, and still takes the old --data with a warning', async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    await using scratch = await scratchDir('strata-cli-lab-data-')
    for (const [flag, warned] of [
      ['--data-dir', false],
      ['--data', true],
    ] as const) {
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      let err = ''
      stderr.on('data', (d: Buffer) => (err += d.toString()))
      const controller = new AbortController()
      const dir = scratch.path(flag.slice(2))
      const done = main(['lab', 'serve', flag, dir, '--json'], { stdout, stderr }, controller.signal)
      const [line] = (await new Promise<Buffer>((resolve) => stdout.once('data', resolve)))
        .toString()
        .split('\n')
      expect(JSON.parse(line!)).toMatchObject({ dataDir: dir })
      controller.abort()
      expect(await done).toBe(0)
      expect(err.includes('strata: warning: --data is deprecated: use --data-dir')).toBe(warned)
    }
  })
})
