// The agent's TLS connection to its server, checked against the pinned fingerprint before anything is
// written on it: the token and every later byte reach only the server the admin named.
import { connect, type TLSSocket } from 'node:tls'
import { isIP } from 'node:net'
import { AbortedError } from '../shared/index.js'
import { AgentCertificateError, AgentLinkError } from './agent-errors.js'

export interface PinnedTarget {
  readonly host: string
  readonly port: number
  /** Canonical SHA-256 fingerprint (upper-case pairs joined by ':', see parseFingerprint). */
  readonly fingerprint: string
}

export function connectPinned(t: PinnedTarget, signal: AbortSignal, timeoutMs = 15_000): Promise<TLSSocket> {
  const where = `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: t.host,
      port: t.port,
      ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
      // The pin is the trust, not a CA chain (the server's certificate is often its own, self-signed).
      rejectUnauthorized: false,
    })
    const fail = (error: Error): void => {
      cleanup()
      socket.destroy()
      reject(error)
    }
    const onAbort = (): void => fail(new AbortedError(signal.reason))
    const timer = setTimeout(
      () => fail(new AgentLinkError(`no TLS handshake with ${where} in ${timeoutMs} ms`)),
      timeoutMs,
    )
    const onError = (error: Error): void =>
      fail(new AgentLinkError(`cannot reach the server at ${where}: ${error.message}`, error))
    const cleanup = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.off('error', onError)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.on('error', onError)
    socket.once('secureConnect', () => {
      const seen = socket.getPeerX509Certificate()?.fingerprint256
      if (seen !== t.fingerprint) return fail(new AgentCertificateError(where, t.fingerprint, seen))
      cleanup()
      resolve(socket)
    })
  })
}
