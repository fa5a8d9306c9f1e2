// `strata server` for a production install: --check-config's verdict and exit code, HTTPS with a
// self-signed certificate whose fingerprint it prints, plain HTTP refused off loopback, and under systemd
// (JOURNAL_STREAM) the generated admin password kept out of the journal.
import { readFileSync, statSync } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { connect, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { runCli, startCli } from '../testing/cli-harness.js'

/** POST /api/auth/login over TLS to the server whose certificate has `fingerprint`, checked first. */
async function pinnedLogin(url: string, fingerprint: string, password: string): Promise<number> {
  const { port } = new URL(url)
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: Number(port), rejectUnauthorized: false }, () =>
      s.getPeerCertificate().fingerprint256 === fingerprint ? resolve(s) : reject(new Error('not pinned')),
    )
    s.on('error', reject)
  })
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/auth/login`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, createConnection: () => socket },
      (res) => {
        res.resume()
        resolve(res.statusCode!)
      },
    )
    req.on('error', reject)
    req.end(JSON.stringify({ username: 'admin', password }))
  })
}

describe('strata server, installed', () => {
  let scratch: Scratch
  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir('strata-cli-server-config-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  async function layout(name: string, text: string): Promise<string> {
    await mkdir(scratch.path(`${name}/data`), { recursive: true, mode: 0o700 })
    const file = scratch.path(`${name}/config.toml`)
    await writeFile(file, `dataDir = "${scratch.path(`${name}/data`)}"\n${text}`)
    return file
  }

  it('--check-config prints what it found and exits 0 on a usable configuration', async () => {
    const config = await layout('good', 'tls = "self-signed"\nhost = "0.0.0.0"\n')
    const { code, out } = await runCli(['server', '--check-config', '--config', config])
    expect(code).toBe(0)
    expect(out).toMatch(/^ok\s+config file\s+.*good\/config\.toml/m)
    expect(out).toMatch(/^ok\s+listen\s+HTTPS on 0\.0\.0\.0 port 8470/m)
    expect(out).toMatch(/^ok\s+tls\s+a self-signed certificate is made at the first start/m)
    expect(out.trim().split('\n').at(-1)).toBe('the configuration is usable')
  })

  it('--check-config exits 1 with the reasons on an unsafe one, and in JSON with --json', async () => {
    const config = await layout('bad', 'host = "0.0.0.0"\n')
    await chmod(scratch.path('bad/data'), 0o750)
    const { code, out } = await runCli(['server', '--check-config', '--config', config])
    expect(code).toBe(1)
    expect(out).toMatch(/^error\s+data directory\s+.*mode 0750, open to others than its owner: chmod 700/m)
    expect(out).toMatch(/^error\s+listen\s+refusing plain HTTP on 0\.0\.0\.0/m)
    expect(out.trim().split('\n').at(-1)).toBe('the configuration is not usable: 2 problem(s) above')
    const json = await runCli(['server', '--check-config', '--config', config, '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, configFile: config })
    await writeFile(config, 'prot = 1\n')
    const unreadable = await runCli(['server', '--check-config', '--config', config])
    expect(unreadable).toMatchObject({
      code: 1,
      err: `strata: [INVALID_CONFIG] ${config}: unknown field 'prot'\n`,
    })
  })

  it('refuses plain HTTP off loopback, and --tls values it does not know', async () => {
    const refused = await runCli([
      'server',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--data-dir',
      scratch.path('p'),
    ])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/^strata: \[PLAIN_HTTP_REFUSED\] refusing plain HTTP on 0\.0\.0\.0/)
    const usage = await runCli(['server', '--tls', 'on', '--data-dir', scratch.path('p')])
    expect(usage.code).toBe(2)
    expect(usage.err).toMatch(/--tls takes 'self-signed'/)
  })

  it('serves HTTPS with a self-signed certificate, prints its fingerprint, and under systemd keeps the password out of the journal', async () => {
    const previous = process.env.JOURNAL_STREAM
    process.env.JOURNAL_STREAM = '8:12345'
    const controller = new AbortController()
    const dataDir = scratch.path('tls-data')
    try {
      const { io, done } = startCli(
        ['server', '--tls', 'self-signed', '--port', '0', '--data-dir', dataDir],
        controller.signal,
      )
      for (let i = 0; i < 400 && !io.out.includes('login:'); i++) await sleep(50)
      const url = /^Strata server at (https:\/\/127\.0\.0\.1:\d+)$/m.exec(io.out)?.[1]
      const fingerprint = /^TLS certificate: SHA-256 (\S+)$/m.exec(io.out)?.[1]
      expect(url, io.out + io.err).toBeDefined()
      expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      expect(io.out).toContain(`login: admin, with the password in ${dataDir}/initial-admin-password`)
      const file = `${dataDir}/initial-admin-password`
      expect(statSync(file).mode & 0o777).toBe(0o600)
      const password = readFileSync(file, 'utf8').trim()
      expect(io.out + io.err).not.toContain(password)
      expect(await pinnedLogin(url!, fingerprint!, password)).toBe(200)
      controller.abort()
      expect(await done).toBe(0)
    } finally {
      controller.abort()
      if (previous === undefined) delete process.env.JOURNAL_STREAM
      else process.env.JOURNAL_STREAM = previous
    }
  })
})
