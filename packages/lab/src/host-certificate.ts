// A host certificate (xapi-ssl.pem): self-signed, one per host as on XCP-ng, with the host's name and
// address as SANs, presented by its HTTPS front (and host 1's NBD server) and returned by
// host.get_server_certificate and VDI.get_nbd_info. Made with openssl at the first lab start and kept in
// the lab's directory, so that a lab started again on the same --data-dir keeps its fingerprint. (Not
// @strata/core/testing's helper: that module pulls in vitest, and the lab also runs outside tests, in
// `strata lab serve`.)
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface HostCertificate {
  readonly cert: string
  readonly key: string
  /** SHA-256, as `openssl x509 -noout -fingerprint -sha256` prints it. */
  readonly fingerprint: string
}

/** The certificate in `dir`, made when absent (or when `renew`: a new key, a new fingerprint). */
export async function makeHostCertificate(
  dir: string,
  hostname: string,
  addresses: readonly string[],
  renew = false,
): Promise<HostCertificate> {
  await mkdir(dir, { recursive: true })
  const certPath = join(dir, 'xapi-ssl-cert.pem')
  const keyPath = join(dir, 'xapi-ssl-key.pem')
  if (!renew) {
    const kept = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]).catch(
      () => undefined,
    )
    if (kept !== undefined) return withFingerprint(kept[0], kept[1])
  }
  const san = [`DNS:${hostname}`, ...addresses.map((a) => (isIP(a) ? `IP:${a}` : `DNS:${a}`))].join(',')
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
    '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=${san}`,
    '-addext', 'keyUsage=digitalSignature,keyEncipherment', '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', keyPath, '-out', certPath,
  ]) // prettier-ignore
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
  return withFingerprint(cert, key)
}

function withFingerprint(cert: string, key: string): HostCertificate {
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 }
}
