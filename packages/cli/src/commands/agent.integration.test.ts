// `strata agent` from the command line: the token from STRATA_AGENT_TOKEN (--token works, with a
// warning), usage errors for what is missing, and a server whose certificate is not the pinned one: a
// typed error and an exit code, with nothing sent to it.
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { makeSelfSignedCertificate } from '@strata/core/testing/tls'
import { runCli } from '../testing/cli-harness.js'

const PIN = Array.from({ length: 32 }, () => 'AB').join(':')

describe('strata agent', () => {
  let scratch: Scratch
  let url: string
  let received = 0
  let close: () => void

  beforeAll(async () => {
    requireBinary('openssl')
    scratch = await scratchDir('strata-cli-agent-')
    const cert = await makeSelfSignedCertificate(scratch.path('tls'), 'server', { commonName: '127.0.0.1' })
    const server = createServer({ cert: cert.cert, key: cert.key }, (socket) => {
      socket.on('data', (d: Buffer) => (received += d.length))
      socket.on('error', () => undefined)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    close = () => server.close()
  })
  afterAll(async () => {
    close?.()
    delete process.env.STRATA_AGENT_TOKEN
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses a server whose certificate is not the pinned one, with its code, having sent nothing', async () => {
    process.env.STRATA_AGENT_TOKEN = 'strata_agent_secret'
    const out = await runCli(['agent', '--server', url, '--fingerprint', PIN, '--data', scratch.path('a')])
    expect(out.code).toBe(1)
    expect(out.err).toMatch(
      /\[AGENT_CERTIFICATE_MISMATCH\] the server at 127\.0\.0\.1:\d+ presented the certificate/,
    )
    expect(out.err).not.toContain('strata_agent_secret')
    expect(out.err).not.toContain('deprecated')
    expect(received).toBe(0)
  })

  it('takes --token with a warning that any user reads a command line', async () => {
    delete process.env.STRATA_AGENT_TOKEN
    const out = await runCli(['agent', '--server', url, '--fingerprint', PIN, '--token', 'strata_agent_x'])
    expect(out.err).toMatch(
      /warning: --token is deprecated: every user of this machine can read a command line/,
    )
    expect(out.code).toBe(1)
  })

  it('says what is missing or wrong', async () => {
    delete process.env.STRATA_AGENT_TOKEN
    const cases: [string[], RegExp][] = [
      [['--server', url, '--fingerprint', PIN], /set STRATA_AGENT_TOKEN/],
      [['--fingerprint', PIN], /--server URL is required/],
      [['--server', 'http://127.0.0.1:1', '--fingerprint', PIN], /HTTPS only/],
      [['--server', url], /--fingerprint is required/],
      [['--server', url, '--fingerprint', 'AB:CD'], /--fingerprint: 'AB:CD' is not a SHA-256 fingerprint/],
    ]
    for (const [args, message] of cases) {
      const out = await runCli(['agent', ...args])
      expect(out.code, args.join(' ')).toBe(2)
      expect(out.err, args.join(' ')).toMatch(message)
    }
  })
})
