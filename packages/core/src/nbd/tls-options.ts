// Client-side TLS: pin the exact certificate XAPI hands out (`VDI.get_nbd_info`'s `cert`) and check
// that it names the host we meant (`subject`), or verify against a CA. Never "accept anything".
import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls'
import { NbdError } from './errors.js'

export interface NbdTlsOptions {
  /** PEM of the one certificate the server must present. Takes precedence over `ca`. */
  pinnedCertificate?: string
  /** PEM of the CA(s) the server's chain must lead to. Without either, the system's CAs apply. */
  ca?: string | string[]
  /** Name the certificate must be valid for (XAPI's `subject`); defaults to the host connected to. */
  servername?: string
  /** Client certificate and key, for servers that verify their peers (qemu-nbd verify-peer=on). */
  cert?: string
  key?: string
}

export function tlsConnectOptions(tls: NbdTlsOptions, host: string | undefined): ConnectionOptions {
  const name = tls.servername ?? host ?? 'localhost'
  const common: ConnectionOptions = {
    servername: isIP(name) === 0 ? name : undefined,
    cert: tls.cert,
    key: tls.key,
    // The check runs for CA-verified connections; pinned ones are checked in verifyPeer below.
    checkServerIdentity: (_host, peer) => checkServerIdentity(name, peer),
  }
  if (tls.pinnedCertificate !== undefined) return { ...common, rejectUnauthorized: false }
  return { ...common, ca: tls.ca, rejectUnauthorized: true }
}

/** After the handshake: the pinned certificate must be exactly the one presented, for the right name. */
export function verifyPeer(socket: TLSSocket, tls: NbdTlsOptions, host: string | undefined): void {
  if (tls.pinnedCertificate === undefined) return
  let pinned: X509Certificate
  try {
    pinned = new X509Certificate(tls.pinnedCertificate)
  } catch (cause) {
    throw new NbdError('NBD_TLS', 'the pinned certificate is not a valid PEM certificate', { cause })
  }
  const peer: PeerCertificate = socket.getPeerCertificate()
  if (peer.raw === undefined || !pinned.raw.equals(peer.raw)) {
    throw new NbdError(
      'NBD_TLS',
      `the server's certificate is not the pinned one (got ${peer.fingerprint256 ?? 'none'})`,
    )
  }
  const name = tls.servername ?? host ?? 'localhost'
  const mismatch = checkServerIdentity(name, peer)
  if (mismatch !== undefined) {
    throw new NbdError('NBD_TLS', `the pinned certificate is not valid for '${name}': ${mismatch.message}`, {
      cause: mismatch,
    })
  }
}
