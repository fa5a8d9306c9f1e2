// A real SMTP server on loopback for tests (the smtp-server package): STARTTLS with a certificate of a
// test CA, authentication required (AUTH only after STARTTLS), every message parsed with mailparser.
// `refuse` answers the recipient with a 554; a hanging server is `hangingServer()`: it accepts TCP
// connections and never says a word.
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import type { IssuedCertificate } from '@strata/core/testing'

export interface ReceivedMail {
  readonly from: string
  readonly to: string[]
  readonly user: string | undefined
  readonly secure: boolean
  readonly parsed: ParsedMail
  readonly raw: string
}

export interface SmtpTestServer {
  readonly host: string
  readonly port: number
  readonly messages: ReceivedMail[]
  /** Resolves with the next message (or one already received beyond `after`). */
  next(after?: number, timeoutMs?: number): Promise<ReceivedMail>
  refuse: boolean
  close(): Promise<void>
}

export async function startSmtpServer(o: {
  certificate: IssuedCertificate
  user: string
  password: string
}): Promise<SmtpTestServer> {
  const messages: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  const state = { refuse: false }
  const server = new SMTPServer({
    key: o.certificate.key,
    cert: o.certificate.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    disableReverseLookup: true,
    onAuth(auth, _session, callback) {
      if (auth.username === o.user && auth.password === o.password) callback(null, { user: auth.username })
      else callback(new Error('535 authentication failed'))
    },
    onRcptTo(_address, _session, callback) {
      if (!state.refuse) return callback()
      const error = new Error('mailbox unavailable: refused by the test server') as Error & {
        responseCode: number
      }
      error.responseCode = 554
      callback(error)
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        simpleParser(raw).then(
          (parsed) => {
            messages.push({
              from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              user: typeof session.user === 'string' ? session.user : undefined,
              secure: session.secure,
              parsed,
              raw,
            })
            for (const wake of waiters) wake()
            callback()
          },
          (error: Error) => callback(error),
        )
      })
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.server.address() as { port: number }).port
  return {
    host: '127.0.0.1',
    port,
    messages,
    get refuse() {
      return state.refuse
    },
    set refuse(value: boolean) {
      state.refuse = value
    },
    next(after = messages.length, timeoutMs = 60_000) {
      return new Promise<ReceivedMail>((resolve, reject) => {
        const check = () => {
          const found = messages[after]
          if (found === undefined) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no e-mail came within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A TCP server that accepts connections and never answers (an SMTP server that hangs). */
export async function hangingServer(): Promise<{
  port: number
  connections: number
  close(): Promise<void>
}> {
  const sockets = new Set<Socket>()
  let connections = 0
  const server: TcpServer = createTcpServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
