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

  it('serves many small VMs under a name with --vms, --disk-size and --name, and refuses bad values', async () => {
    requireBinary('openssl')
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const controller = new AbortController()
    const args = [
      'lab',
      'serve',
      '--vms',
      '20',
      '--disk-size',
      '8MiB',
      '--name',
      'site b',
      '--boot-delay',
      '50',
    ]
    const done = main([...args, '--json'], { stdout, stderr }, controller.signal)
    const [line] = (await new Promise<Buffer>((resolve) => stdout.once('data', resolve)))
      .toString()
      .split('\n')
    const info = JSON.parse(line!) as { url: string; name: string; vms: string[]; fingerprint: string }
    expect(info.name).toBe('site b')
    expect(info.vms).toHaveLength(20)
    expect(info.vms[0]).toBe('vm-001')
    const xapi = new XapiClient({
      url: info.url,
      user: 'root',
      password: 'lab-password',
      fingerprint: info.fingerprint,
    })
    const [host] = await xapi.call<string[]>('host.get_all', [])
    expect(await xapi.call('host.get_hostname', [host])).toBe('site-b-host-1')
    await xapi.close()
    controller.abort()
    expect(await done).toBe(0)
    for (const [bad, message] of [
      [['--vms', '0'], /--vms: between 1 and 10000/],
      [['--vms', '2', '--disk-size', '1K'], /--disk-size: at least 64 KiB/],
      [['--disk-size', '8MiB'], /--disk-size goes with --vms N/],
      [['--address', '127.0.0.1,127.0.0.2'], /--address needs 1 IPv4 address/],
      [['--name', 'x'.repeat(65)], /--name/],
    ] as const) {
      let err = ''
      const errs = new PassThrough()
      errs.on('data', (d: Buffer) => (err += d.toString()))
      const code = await main(
        ['lab', 'serve', ...bad],
        { stdout: new PassThrough(), stderr: errs },
        // A fresh signal: the one above is aborted, which main() now reports as an interruption (130).
        new AbortController().signal,
      )
      expect(code).toBe(2)
      expect(err).toMatch(message)
    }
  })
})
