// `strata server --demo` through the CLI's main: it prints the URL and a login that works, the demo job
// is there with its pool connected over HTTPS, pinned to the lab's fingerprint it printed, and it stops
// cleanly when interrupted.
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { main } from '../main.js'

describe('strata server --demo', () => {
  let scratch: Scratch
  beforeAll(async () => {
    requireBinary('mke2fs')
    scratch = await scratchDir('strata-cli-server-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  it('starts the server with a lab pool and a demo job, then stops on interrupt', async () => {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    let out = ''
    let log = ''
    stdout.on('data', (d: Buffer) => (out += d.toString()))
    stderr.on('data', (d: Buffer) => (log += d.toString()))
    const controller = new AbortController()
    const argv = ['server', '--demo', '--port', '0', '--data-dir', scratch.path('data'), '--json']
    const exit = main(argv, { stdout, stderr }, controller.signal)
    for (let i = 0; i < 600 && !out.includes('\n'); i++) await sleep(50)
    const info = JSON.parse(out.split('\n')[0]!) as {
      url: string
      login: { username: string; password: string }
      lab: string
      labFingerprint: string
    }
    expect(info.lab).toMatch(/^https:/)
    expect(info.labFingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    const login = await fetch(`${info.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(info.login),
    })
    expect(login.status).toBe(200)
    // Shown once on the terminal (stdout), never in the server's log (stderr, which may go to a file).
    expect(log).toContain("created user 'admin'")
    expect(log).not.toContain(info.login.password)
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    const get = async (path: string) => (await fetch(`${info.url}${path}`, { headers: { cookie } })).json()
    expect(await get('/api/jobs')).toEqual([
      expect.objectContaining({ name: 'Demo: web VMs, delta', enabled: true }),
    ])
    let pools = (await get('/api/pools')) as { connected: boolean }[]
    for (let i = 0; i < 100 && pools[0]?.connected !== true; i++) {
      await sleep(100)
      pools = (await get('/api/pools')) as { connected: boolean }[]
    }
    expect(pools).toEqual([
      expect.objectContaining({
        name: 'lab',
        connected: true,
        fingerprint: info.labFingerprint,
        insecureHttp: false,
      }),
    ])
    controller.abort()
    expect(await exit).toBe(0)
    await expect(fetch(`${info.url}/api/me`)).rejects.toThrow()
  })
})
