// A real HTTPS client for tests, in the two ways Strata's clients trust a server: a CA (or the
// self-signed certificate itself as the anchor), or a pinned SHA-256 fingerprint checked after the
// handshake and before a byte of the request is sent.
import { request } from 'node:https'
import { connect, type TLSSocket } from 'node:tls'

export interface HttpsAnswer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  /** The fingerprint of the certificate the server presented. */
  readonly fingerprint: string
}

export interface HttpsTrust {
  /** PEM certificates to verify the chain against (and the host name). */
  readonly ca?: string
  /** The one certificate accepted, by its SHA-256 fingerprint (openssl's format). */
  readonly pin?: string
}

export async function httpsRequest(
  url: string,
  trust: HttpsTrust,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpsAnswer> {
  const target = new URL(url)
  const socket = trust.pin === undefined ? undefined : await pinnedSocket(target, trust.pin)
  const body = init.body === undefined ? undefined : JSON.stringify(init.body)
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: init.method ?? 'GET',
        ca: trust.ca,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
        ...(socket === undefined ? {} : { createConnection: () => socket }),
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('error', reject)
        res.on('end', () => {
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: text,
            fingerprint,
          })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function pinnedSocket(target: URL, pin: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const host = target.hostname.replace(/^\[|\]$/g, '')
    const socket = connect({ host, port: Number(target.port), rejectUnauthorized: false }, () => {
      const seen = socket.getPeerCertificate().fingerprint256
      if (seen === pin) return resolve(socket)
      socket.destroy()
      reject(new Error(`the server presented ${seen}, not the pinned ${pin}`))
    })
    socket.on('error', reject)
  })
}
