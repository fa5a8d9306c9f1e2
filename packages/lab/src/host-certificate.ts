// The host certificate (xapi-ssl.pem): self-signed, with the host name and the hosts' addresses as SANs,
// presented by the HTTPS front and the NBD server and returned by VDI.get_nbd_info /
// host.get_server_certificate. Made with openssl at
// lab start. (Not @strata/core/testing's helper: that module pulls in vitest, and the lab also runs
// outside tests, in `strata lab serve`.)
import { execFile } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export async function makeHostCertificate(
  dir: string,
  hostname: string,
  addresses: readonly string[],
): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true })
  const certPath = join(dir, 'xapi-ssl-cert.pem')
  const keyPath = join(dir, 'xapi-ssl-key.pem')
  const san = [`DNS:${hostname}`, ...addresses.map((a) => (isIP(a) ? `IP:${a}` : `DNS:${a}`))].join(',')
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
    '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=${san}`,
    '-addext', 'keyUsage=digitalSignature,keyEncipherment', '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', keyPath, '-out', certPath,
  ]) // prettier-ignore
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
  return { cert, key }
}
