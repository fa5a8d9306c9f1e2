import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { X509Certificate } from 'node:crypto'
import { requireBinary, scratchDir } from '@strata/core/testing'
import { XapiClient } from '@strata/core/xapi'
import { main } from '../main.js'

describe('strata lab serve', () => {
  it('prints the URL, fingerprint and credentials as JSON, answers pinned logins, and stops on abort', async () => {
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
      fingerprint: string
      certificate: string
      nbdPort: number
      vms: string[]
    }
    expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(info.fingerprint).toBe(new X509Certificate(info.certificate).fingerprint256)
    expect(info.nbdPort).toBeGreaterThan(0)
    expect(info.vms).toEqual(['db-01', 'web-01'])
    // Pinned to the printed fingerprint: the lab answers a login.
    const xapi = new XapiClient({
      url: info.url,
      user: info.user,
      password: info.password,
      fingerprint: info.fingerprint,
    })
    await xapi.connect()
    expect(xapi.sessionRef()).toMatch(/^OpaqueRef:/)
    await xapi.close()
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
