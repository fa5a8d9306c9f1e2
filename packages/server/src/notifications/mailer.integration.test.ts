// The mailer against a real SMTP server on loopback (smtp-server): STARTTLS and authentication, the
// server's certificate checked against the CA the settings give, and the failures an admin must be able
// to read: a refused recipient, a wrong password, a server without STARTTLS (never sent the password in
// clear), a server that hangs (bounded by the caller's signal).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SMTPServer } from 'smtp-server'
import {
  makeTestCa,
  scratchDir,
  type IssuedCertificate,
  type Scratch,
  type TestCa,
} from '@strata/core/testing'
import { hangingServer, startSmtpServer, type SmtpTestServer } from '../testing/smtp-test-server.js'
import { NotificationError, sendMail } from './mailer.js'
import type { SmtpAccount } from './notification-store.js'

/** The error a send failed with (a send that succeeds fails the test). */
const failure = (p: Promise<void>) =>
  p.then(
    () => {
      throw new Error('the e-mail was sent')
    },
    (e: unknown) => e as Error,
  )

const MAIL = { subject: 'Strata: test', html: '<p>hello <b>html</b></p>', text: 'hello text' }
const USER = 'strata'
const PASSWORD = 'smtp-password-1'

describe('mailer', () => {
  let scratch: Scratch
  let ca: TestCa
  let certificate: IssuedCertificate
  let smtp: SmtpTestServer

  const account = (over: Partial<SmtpAccount['settings']> = {}, password = PASSWORD): SmtpAccount => ({
    settings: {
      host: '127.0.0.1',
      port: smtp.port,
      security: 'starttls',
      username: USER,
      from: 'strata@example.test',
      to: ['admin@example.test', 'oncall@example.test'],
      enabled: true,
      ca: ca.cert,
      ...over,
    },
    password,
  })

  beforeAll(async () => {
    scratch = await scratchDir('strata-mailer-')
    ca = await makeTestCa(scratch.path('ca'))
    certificate = await ca.issue('smtp', { commonName: '127.0.0.1', altNames: ['127.0.0.1'] })
    smtp = await startSmtpServer({ certificate, user: USER, password: PASSWORD })
  })
  afterAll(async () => {
    await smtp?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('sends over STARTTLS with authentication, HTML with a plain-text alternative', async () => {
    const before = smtp.messages.length
    await sendMail(account(), MAIL, AbortSignal.timeout(30_000))
    const got = await smtp.next(before)
    expect(got.secure).toBe(true)
    expect(got.user).toBe(USER)
    expect(got.to).toEqual(['admin@example.test', 'oncall@example.test'])
    expect(got.parsed.subject).toBe('Strata: test')
    expect(got.parsed.html).toContain('<b>html</b>')
    expect(got.parsed.text?.trim()).toBe('hello text')
    expect(got.parsed.headers.get('auto-submitted')).toBe('auto-generated')
  })

  it('refuses a server whose certificate no trusted CA signed', async () => {
    const { ca: _ca, ...untrusted } = account().settings
    const error = await failure(
      sendMail({ settings: untrusted, password: PASSWORD }, MAIL, AbortSignal.timeout(30_000)),
    )
    expect(error).toBeInstanceOf(NotificationError)
    expect((error as NotificationError).code).toBe('SMTP_FAILED')
    expect((error as Error).message).toMatch(/127\.0\.0\.1:\d+.*(certificate|self.signed|issuer)/i)
  })

  it('says why a refused recipient, a wrong password fail, naming the server and never the password', async () => {
    smtp.refuse = true
    try {
      const refused = await failure(sendMail(account(), MAIL, AbortSignal.timeout(30_000)))
      expect(refused.message).toMatch(new RegExp(`SMTP server 127\\.0\\.0\\.1:${smtp.port} failed: .*554`))
    } finally {
      smtp.refuse = false
    }
    const wrong = await failure(sendMail(account({}, 'not-the-password'), MAIL, AbortSignal.timeout(30_000)))
    expect(wrong.message).toMatch(/EAUTH.*535/)
    expect(wrong.message).not.toContain('not-the-password')
  })

  it('never authenticates with a server that does not offer STARTTLS', async () => {
    let authAttempts = 0
    const plain = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      disableReverseLookup: true,
      onAuth(_auth, _session, callback) {
        authAttempts++
        callback(null, { user: 'x' })
      },
    })
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', () => resolve()))
    try {
      const port = (plain.server.address() as { port: number }).port
      const error = await failure(sendMail(account({ port }), MAIL, AbortSignal.timeout(30_000)))
      expect(error.message).toMatch(/STARTTLS/i)
      expect(authAttempts).toBe(0)
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()))
    }
  })

  it('gives up on a server that never answers when the signal says so', async () => {
    const hang = await hangingServer()
    try {
      const started = Date.now()
      const error = await failure(sendMail(account({ port: hang.port }), MAIL, AbortSignal.timeout(1500)))
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(hang.connections).toBe(1)
      expect(error.message).toMatch(
        new RegExp(`SMTP server 127\\.0\\.0\\.1:${hang.port} failed: it took too long`),
      )
    } finally {
      await hang.close()
    }
  })
})
