// The server serving HTTPS itself, checked with real clients: a self-signed certificate made at the
// first start (owner-only files, kept across restarts, its fingerprint printed and pinned, and the one
// openssl s_client sees), an admin's certificate verified through its CA, and plain HTTP refused on an
// address other machines may reach.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTestCa, requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { startTestServer } from '../testing/test-server.js'
import { httpsRequest } from '../testing/https-client.js'

const FINGERPRINT = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/

/** The SHA-256 fingerprint openssl s_client sees on the port: an independent view of the handshake. */
async function opensslFingerprint(port: number): Promise<string> {
  const shown = await promisify(execFile)('sh', [
    '-c',
    `openssl s_client -connect 127.0.0.1:${port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
  ])
  return shown.stdout.trim().replace(/^sha256 Fingerprint=/i, '')
}

describe('the server over HTTPS', () => {
  let scratch: Scratch
  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir('strata-server-https-')
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })

  it('makes a self-signed certificate at the first start, keeps it, and is reached with it pinned', async () => {
    const lines: string[] = []
    const dataDir = scratch.path('self-signed')
    const server = await startTestServer(scratch, { dataDir, tls: 'self-signed', echo: (l) => lines.push(l) })
    let fingerprint: string
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      fingerprint = server.tlsFingerprint!
      expect(fingerprint).toMatch(FINGERPRINT)
      expect(lines.join('\n')).toContain(`SHA-256 fingerprint ${fingerprint}`)
      for (const file of ['tls/server-cert.pem', 'tls/server-key.pem'])
        expect(statSync(`${dataDir}/${file}`).mode & 0o777, file).toBe(0o600)
      expect(statSync(`${dataDir}/tls`).mode & 0o777).toBe(0o700)
      expect(await opensslFingerprint(server.port)).toBe(fingerprint)

      const pinned = await httpsRequest(`${server.url}/api/health`, { pin: fingerprint })
      expect(pinned.status).toBe(200)
      const login = await httpsRequest(
        `${server.url}/api/auth/login`,
        { pin: fingerprint },
        { method: 'POST', body: { username: 'admin', password: server.generatedAdminPassword } },
      )
      expect(login.status).toBe(200)
      expect(String(login.headers['set-cookie'])).toMatch(/;\s*Secure/i) // the cookie stays on HTTPS
      const cookie = String(login.headers['set-cookie']).split(';')[0]!
      const session = await httpsRequest(
        `${server.url}/api/openapi.json`,
        { pin: fingerprint },
        { headers: { cookie } },
      )
      expect(session.status).toBe(200) // a private route, with the session made over HTTPS
      await expect(
        httpsRequest(`${server.url}/api/health`, {
          pin: `${fingerprint.startsWith('00') ? 'FF' : '00'}${fingerprint.slice(2)}`,
        }),
      ).rejects.toThrow(/not the pinned/)
      await expect(fetch(server.url.replace('https:', 'http:'))).rejects.toThrow()
    } finally {
      await server.close()
    }
    const again = await startTestServer(scratch, { dataDir, tls: 'self-signed' })
    try {
      expect(again.tlsFingerprint).toBe(fingerprint)
      const certificate = readFileSync(`${dataDir}/tls/server-cert.pem`, 'utf8')
      const anchored = await httpsRequest(`${again.url}/api/health`, { ca: certificate })
      expect(anchored).toMatchObject({ status: 200, fingerprint })
    } finally {
      await again.close()
    }
  })

  it("serves the admin's certificate and key from the config file, verified through its CA", async () => {
    const ca = await makeTestCa(scratch.path('ca'))
    const issued = await ca.issue('server', { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] })
    await chmod(issued.keyPath, 0o600)
    await mkdir(scratch.path('etc'), { recursive: true })
    const configFile = scratch.path('etc/config.toml')
    const dataDir = scratch.path('admin-cert')
    await writeFile(
      configFile,
      `dataDir = "${dataDir}"\n[tls]\ncert = "${issued.certPath}"\nkey = "${issued.keyPath}"\n`,
    )
    const server = await startTestServer(scratch, { dataDir: undefined, configFile })
    try {
      expect(server.url).toMatch(/^https:/)
      const answer = await httpsRequest(`${server.url}/api/health`, { ca: ca.cert })
      expect(answer.status).toBe(200)
      expect(answer.fingerprint).toBe(server.tlsFingerprint)
      await expect(httpsRequest(`${server.url}/api/health`, {})).rejects.toThrow(/unable to verify/)
      expect(existsSync(`${dataDir}/tls`)).toBe(false) // nothing self-signed made beside the admin's
    } finally {
      await server.close()
    }
  })

  it('refuses a key that is not the certificate’s, naming both files', async () => {
    const ca = await makeTestCa(scratch.path('ca2'))
    const one = await ca.issue('one', { commonName: 'localhost' })
    const two = await ca.issue('two', { commonName: 'localhost' })
    await expect(
      startTestServer(scratch, {
        dataDir: scratch.path('mismatch'),
        tls: { cert: one.certPath, key: two.keyPath },
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_TLS',
      message: `${two.keyPath} is not the private key of the certificate in ${one.certPath}`,
    })
  })

  it('refuses plain HTTP on an address other machines may reach, before making anything', async () => {
    const dataDir = scratch.path('plain')
    for (const host of ['0.0.0.0', '::'])
      await expect(startTestServer(scratch, { dataDir, host })).rejects.toMatchObject({
        code: 'PLAIN_HTTP_REFUSED',
      })
    expect(existsSync(dataDir)).toBe(false)
  })
})
