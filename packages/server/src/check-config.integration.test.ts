// `--check-config` judges a production layout without changing it: a good one passes with what it found
// (fingerprint included), and each unsafe or broken part fails with its reason and the fix.
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  makeTestCa,
  requireBinary,
  scratchDir,
  type IssuedCertificate,
  type Scratch,
} from '@strata/core/testing'
import { checkConfig, type ConfigCheck } from './check-config.js'

const UID = process.getuid!()

describe('checkConfig', () => {
  let scratch: Scratch
  let issued: IssuedCertificate
  let other: IssuedCertificate
  let n = 0
  let dir: string
  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir('strata-check-config-')
    const ca = await makeTestCa(scratch.path('ca'))
    issued = await ca.issue('server', { commonName: 'strata.lan' })
    other = await ca.issue('other', { commonName: 'other.lan' })
    await chmod(issued.keyPath, 0o600)
    await chmod(other.keyPath, 0o600)
  })
  afterAll(async () => {
    await scratch?.[Symbol.asyncDispose]()
  })
  beforeEach(async () => {
    dir = scratch.path(`layout-${n++}`)
    await mkdir(`${dir}/etc`, { recursive: true })
    await mkdir(`${dir}/data`, { mode: 0o700 })
  })

  /** A production layout: the TOML file, a 0700 data directory, the admin's certificate. */
  async function layout(extra = ''): Promise<string> {
    const file = `${dir}/etc/config.toml`
    const tls = `[tls]\ncert = "${issued.certPath}"\nkey = "${issued.keyPath}"\n`
    await writeFile(file, `dataDir = "${dir}/data"\nhost = "0.0.0.0"\n${extra}\n${tls}`, { mode: 0o640 })
    return file
  }

  const errors = (check: ConfigCheck) => check.findings.filter((f) => f.status === 'error')

  it('passes a good layout and says what it found, without making anything', async () => {
    const check = checkConfig({ configFile: await layout() }, {}, UID)
    expect(errors(check)).toEqual([])
    expect(check.ok).toBe(true)
    const details = check.findings.map((f) => `${f.what}: ${f.detail}`).join('\n')
    expect(details).toContain(`config file: ${dir}/etc/config.toml (mode 0640)`)
    expect(details).toContain(`data directory: ${dir}/data (mode 0700`)
    expect(details).toContain(`secret key: ${dir}/data/secret.key is made at the first start`)
    expect(details).toContain('listen: HTTPS on 0.0.0.0 port 8470')
    expect(details).toMatch(/tls: .*server-cert\.pem .*SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/)
    expect(existsSync(`${dir}/data/secret.key`)).toBe(false)
  })

  it('passes a self-signed certificate still to make, and loopback plain HTTP', async () => {
    await writeFile(`${dir}/etc/s.toml`, `dataDir = "${dir}/data"\ntls = "self-signed"\n`)
    const check = checkConfig({ configFile: `${dir}/etc/s.toml` }, {}, UID)
    expect(check.ok).toBe(true)
    expect(check.findings).toContainEqual(
      expect.objectContaining({ what: 'tls', detail: expect.stringMatching(/made at the first start/) }),
    )
    expect(existsSync(`${dir}/data/tls`)).toBe(false)
    const plain = checkConfig({ dataDir: `${dir}/data` }, {}, UID)
    expect(plain.ok).toBe(true)
    expect(plain.findings).toContainEqual(
      expect.objectContaining({
        what: 'listen',
        detail: expect.stringMatching(/plain HTTP on 127\.0\.0\.1.*loopback/),
      }),
    )
  })

  it('fails an open data directory, a missing one, or one owned by someone else', async () => {
    const configFile = await layout()
    await chmod(`${dir}/data`, 0o755)
    expect(errors(checkConfig({ configFile }, {}, UID))).toEqual([
      {
        status: 'error',
        what: 'data directory',
        detail: `${dir}/data: mode 0755, open to others than its owner: chmod 700`,
      },
    ])
    await chmod(`${dir}/data`, 0o700)
    await chown(`${dir}/data`, 65534, 65534)
    expect(errors(checkConfig({ configFile }, {}, UID))[0]?.detail).toMatch(
      /belongs to uid 65534, not to uid/,
    )
    const missing = checkConfig({ configFile, dataDir: `${dir}/nowhere` }, {}, UID)
    expect(errors(missing)[0]?.detail).toBe(
      `${dir}/nowhere does not exist: create it with mode 0700, owned by the server's user`,
    )
  })

  it('fails a secret key file others can read, or one that is not a key', async () => {
    const configFile = await layout()
    await writeFile(`${dir}/data/secret.key`, `${'ab'.repeat(32)}\n`, { mode: 0o644 })
    await chmod(`${dir}/data/secret.key`, 0o644)
    expect(errors(checkConfig({ configFile }, {}, UID))).toEqual([
      expect.objectContaining({
        what: 'secret key',
        detail: `${dir}/data/secret.key: mode 0644, readable by others than its owner: chmod 600`,
      }),
    ])
    await writeFile(`${dir}/data/secret.key`, 'not a key\n')
    await chmod(`${dir}/data/secret.key`, 0o600)
    expect(errors(checkConfig({ configFile }, {}, UID))[0]?.detail).toMatch(/64 hex digits expected/)
    expect(errors(checkConfig({ configFile }, { STRATA_SECRET_KEY: 'short' }, UID))[0]?.detail).toMatch(
      /STRATA_SECRET_KEY: 64 hex digits/,
    )
  })

  it('fails TLS files that do not serve: an open key, a key of another certificate, a missing file', async () => {
    const configFile = await layout()
    await chmod(issued.keyPath, 0o644)
    try {
      expect(errors(checkConfig({ configFile }, {}, UID))[0]?.detail).toMatch(
        /the private key is open to others: chmod 600/,
      )
    } finally {
      await chmod(issued.keyPath, 0o600)
    }
    const mismatch = checkConfig({ configFile, tls: { cert: issued.certPath, key: other.keyPath } }, {}, UID)
    expect(errors(mismatch)[0]?.detail).toBe(
      `${other.keyPath} is not the private key of the certificate in ${issued.certPath}`,
    )
    const gone = checkConfig({ configFile, tls: { cert: `${dir}/none.pem`, key: other.keyPath } }, {}, UID)
    expect(errors(gone)[0]?.detail).toMatch(/none\.pem: cannot be read/)
  })

  it('fails plain HTTP on a reachable address unless allowed, and a config file others may change', async () => {
    await writeFile(`${dir}/etc/plain.toml`, `dataDir = "${dir}/data"\nhost = "0.0.0.0"\n`, { mode: 0o666 })
    await chmod(`${dir}/etc/plain.toml`, 0o666)
    const check = checkConfig({ configFile: `${dir}/etc/plain.toml` }, {}, UID)
    expect(errors(check).map((f) => f.what)).toEqual(['config file', 'listen'])
    expect(errors(check)[0]!.detail).toMatch(/writable by others than its owner: chmod 640/)
    expect(errors(check)[1]!.detail).toMatch(/refusing plain HTTP on 0\.0\.0\.0/)
    await chmod(`${dir}/etc/plain.toml`, 0o640)
    const allowed = checkConfig({ configFile: `${dir}/etc/plain.toml`, insecureHttp: true }, {}, UID)
    expect(allowed.ok).toBe(true)
    await writeFile(
      `${dir}/etc/plain.toml`,
      `dataDir = "${dir}/data"\nhost = "0.0.0.0"\ntrustProxy = ["10.0.0.5"]\n`,
    )
    const proxied = checkConfig({ configFile: `${dir}/etc/plain.toml` }, {}, UID)
    expect(proxied.ok).toBe(true)
    expect(proxied.findings.find((f) => f.what === 'listen')?.detail).toMatch(/\(trustProxy: /)
  })

  it('throws for a config it cannot read at all', async () => {
    await writeFile(`${dir}/etc/bad.toml`, 'prot = 1\n')
    expect(() => checkConfig({ configFile: `${dir}/etc/bad.toml` }, {}, UID)).toThrow(/unknown field 'prot'/)
  })
})
