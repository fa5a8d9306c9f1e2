// The pool options of the commands that connect to a pool (`lab guest-write`, `backup run`, `pool`),
// through `main` as a user types them: the certificate pinned with --fingerprint (refused on first
// contact and when it changed, printing what was seen), plain HTTP only with --insecure-http, and job
// files that carry both themselves.
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { CHECK_ON_HOST } from '@strata/core/xapi'
import { LabPool } from '@strata/lab'
import { main } from '../main.js'

async function strata(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const sink = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as never
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) })
  return { code, out, err }
}

const VMS = [{ name: 'vm', power: 'Running' as const, disks: [4] }]

describe('pool options of the CLI', () => {
  let lab: LabPool
  let plain: LabPool
  let scratch: Scratch
  const write = (pool: LabPool, ...extra: string[]) =>
    strata([
      'lab', 'guest-write', '--pool', pool.url, '--password', pool.password, '--vm', 'vm',
      '--random-blocks', '1', ...extra,
    ]) // prettier-ignore

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-pool-pinning-')
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: VMS })
    plain = await LabPool.start({ https: false, authFailureDelayMs: 10, nbd: false, vms: VMS })
  })
  afterAll(async () => {
    await lab?.close()
    await plain?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses a first contact, printing the fingerprint seen and how to check it on the host', async () => {
    const { code, err } = await write(lab)
    expect(code).toBe(1)
    expect(err).toContain('[POOL_CERTIFICATE_UNKNOWN]')
    expect(err).toContain(lab.fingerprint)
    expect(err).toContain(CHECK_ON_HOST)
    expect(lab.calls.get('session.login_with_password')).toBeUndefined()
  })

  it('connects with --fingerprint as openssl prints it or as bare hex, and refuses a malformed one', async () => {
    expect((await write(lab, '--fingerprint', lab.fingerprint)).code).toBe(0)
    const bare = lab.fingerprint.replace(/:/g, '').toLowerCase()
    expect((await write(lab, '--fingerprint', bare)).code).toBe(0)
    const bad = await write(lab, '--fingerprint', 'ab:cd')
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/--fingerprint: 'ab:cd' is not a SHA-256 fingerprint/)
  })

  it('refuses plain HTTP unless --insecure-http is given', async () => {
    const refused = await write(plain)
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('[POOL_INSECURE_HTTP]')
    expect(plain.calls.get('session.login_with_password')).toBeUndefined()
    expect((await write(plain, '--insecure-http')).code).toBe(0)
  })

  it('runs no backup against an unpinned pool, and reports why in the run', async () => {
    const repo = scratch.path('repo')
    expect((await strata(['repo', 'init', '--repo', repo])).code).toBe(0)
    const data = ['--data-dir', scratch.path('data')]
    const inline = ['backup', 'run', '--pool', lab.url, '--vm', 'vm', '--repo', repo, ...data]
    const run = await strata([...inline, '--password', lab.password, '--json'])
    expect(run.code).toBe(1)
    expect(JSON.parse(run.out)).toMatchObject({ status: 'failure', vms: [{ name: 'vm', status: 'failure' }] })
    expect(run.err).toContain('POOL_CERTIFICATE_UNKNOWN')
    expect(run.err).toContain(lab.fingerprint)
    const file = scratch.path('job.json')
    const pools = [{ id: 'lab', url: lab.url, fingerprint: lab.fingerprint }]
    await writeFile(
      file,
      JSON.stringify({ id: 'j', pools, vms: ['vm'], repositories: [{ name: 'r', location: repo }] }),
    )
    const both = await strata(['backup', 'run', file, '--fingerprint', lab.fingerprint, ...data])
    expect(both.code).toBe(2)
    process.env.STRATA_XAPI_PASSWORD = lab.password
    try {
      const pinned = await strata(['backup', 'run', file, ...data, '--json'])
      expect(JSON.parse(pinned.out)).toMatchObject({
        status: 'success',
        vms: [{ name: 'vm', status: 'success' }],
      })
    } finally {
      delete process.env.STRATA_XAPI_PASSWORD
    }
  })

  it('lists a plain-HTTP pool with `strata pool` only when --insecure-http is given', async () => {
    process.env.STRATA_XAPI_PASSWORD = plain.password
    try {
      for (const command of ['srs', 'vms', 'networks']) {
        const refused = await strata(['pool', command, '--pool', plain.url])
        expect(refused.code).toBe(1)
        expect(refused.err).toContain('[POOL_INSECURE_HTTP]')
        const listed = await strata(['pool', command, '--pool', plain.url, '--insecure-http', '--json'])
        expect(listed.code).toBe(0)
        expect(JSON.parse(listed.out).length).toBeGreaterThan(0)
      }
      const vms = await strata(['pool', 'vms', '--pool', lab.url, '--fingerprint', lab.fingerprint])
      expect(vms.out).toMatch(/^vm +\S+ +Running/m)
    } finally {
      delete process.env.STRATA_XAPI_PASSWORD
    }
  })

  it('refuses a pool whose certificate changed, naming both fingerprints', async () => {
    const old = lab.fingerprint
    const renewed = await lab.renewCertificate()
    const { code, err } = await write(lab, '--fingerprint', old)
    expect(code).toBe(1)
    expect(err).toContain('[POOL_CERTIFICATE_CHANGED]')
    expect(err).toContain(old)
    expect(err).toContain(renewed)
    expect((await write(lab, '--fingerprint', renewed)).code).toBe(0)
  })
})
