// Test certificates made with the real `openssl` binary: a CA, and server/client certificates signed by
// it, or a self-signed host certificate like XAPI's xapi-ssl.pem. The folders follow the layout that
// qemu-nbd (tls-creds-x509 dir=) and nbdkit (--tls-certificates=) read, so the same files serve our
// code and the reference tools. RSA keys: qemu's GnuTLS checks insist on keyEncipherment usage.
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { requireBinary } from './binaries.js'

export interface CertificateOptions {
  /** Subject common name, e.g. 'localhost' or 'xcp-host-1'. */
  commonName: string
  /** Subject alternative names: DNS names, or IP addresses (v4 or v6). Default: the common name. */
  altNames?: readonly string[]
  /** 'server' (serverAuth), 'client' (clientAuth) or 'both'. Default 'server'. */
  usage?: 'server' | 'client' | 'both'
  days?: number
}

export interface IssuedCertificate {
  /** PEM text of the certificate and of its unencrypted private key. */
  readonly cert: string
  readonly key: string
  readonly certPath: string
  readonly keyPath: string
}

export interface TestCa {
  readonly dir: string
  readonly cert: string
  readonly certPath: string
  /** Signs a new certificate; files land in `dir` as `<name>-cert.pem` and `<name>-key.pem`. */
  issue(name: string, options: CertificateOptions): Promise<IssuedCertificate>
}

export interface TlsFixture {
  readonly ca: TestCa
  readonly server: IssuedCertificate
  readonly client: IssuedCertificate
  /** ca-cert.pem, server-cert.pem, server-key.pem: qemu-nbd `dir=`, nbdkit `--tls-certificates=`. */
  readonly serverDir: string
  /** ca-cert.pem, client-cert.pem, client-key.pem: nbdinfo/nbdcopy `tls-certificates=`, qemu `endpoint=client`. */
  readonly clientDir: string
}

function openssl(args: string[]): Promise<void> {
  const bin = requireBinary('openssl')
  return new Promise((resolve, reject) => {
    execFile(bin, args, (error, _stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`openssl ${args[0]} failed: ${stderr.trim() || error.message}`))
    })
  })
}

const isIp = (name: string): boolean => /^[\d.]+$/.test(name) || name.includes(':')

// A self-signed leaf also signs itself: keyCertSign lets OpenSSL-based peers accept it as its own anchor.
function extensions(options: CertificateOptions, ca: boolean, selfSigned = false): string {
  if (ca) return ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'].join('\n')
  const usage = options.usage ?? 'server'
  const eku = usage === 'both' ? 'serverAuth,clientAuth' : usage === 'server' ? 'serverAuth' : 'clientAuth'
  const names = (options.altNames ?? [options.commonName]).map((n) => (isIp(n) ? `IP:${n}` : `DNS:${n}`))
  return [
    'basicConstraints=critical,CA:FALSE',
    `keyUsage=critical,digitalSignature,keyEncipherment${selfSigned ? ',keyCertSign' : ''}`,
    `extendedKeyUsage=${eku}`,
    ...(names.length > 0 ? [`subjectAltName=${names.join(',')}`] : []),
  ].join('\n')
}

/** A self-contained openssl config, so that the system's openssl.cnf cannot add extensions of its own. */
function config(commonName: string, ext: string): string {
  return `[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n[dn]\nCN = ${commonName}\n[ext]\n${ext}\n`
}

async function readIssued(certPath: string, keyPath: string): Promise<IssuedCertificate> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')])
  return { cert, key, certPath, keyPath }
}

/** A self-signed certificate (no CA), like the host certificate XAPI hands out in `VDI.get_nbd_info`. */
export async function makeSelfSignedCertificate(
  dir: string,
  name: string,
  options: CertificateOptions,
): Promise<IssuedCertificate> {
  await mkdir(dir, { recursive: true })
  const certPath = join(dir, `${name}-cert.pem`)
  const keyPath = join(dir, `${name}-key.pem`)
  const cnfPath = join(dir, `${name}.cnf`)
  await writeFile(cnfPath, config(options.commonName, extensions(options, false, true)))
  await openssl([
    'req', '-x509', '-config', cnfPath, '-newkey', 'rsa:2048', '-nodes', '-sha256',
    '-days', String(options.days ?? 30), '-keyout', keyPath, '-out', certPath,
  ]) // prettier-ignore
  return readIssued(certPath, keyPath)
}

/** A fresh certificate authority in `dir`. */
export async function makeTestCa(dir: string, commonName = 'Strata test CA'): Promise<TestCa> {
  await mkdir(dir, { recursive: true })
  const certPath = join(dir, 'ca-cert.pem')
  const keyPath = join(dir, 'ca-key.pem')
  const cnfPath = join(dir, 'ca.cnf')
  await writeFile(cnfPath, config(commonName, extensions({ commonName }, true)))
  await openssl([
    'req', '-x509', '-config', cnfPath, '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30',
    '-keyout', keyPath, '-out', certPath,
  ]) // prettier-ignore
  const cert = await readFile(certPath, 'utf8')
  let serial = 1
  return {
    dir,
    cert,
    certPath,
    async issue(name, options) {
      const out = join(dir, name)
      const csr = `${out}.csr`
      const ext = `${out}.ext`
      const cnf = `${out}.cnf`
      await writeFile(ext, extensions(options, false))
      await writeFile(cnf, config(options.commonName, extensions(options, false)))
      await openssl([
        'req', '-new', '-config', cnf, '-newkey', 'rsa:2048', '-nodes', '-sha256',
        '-keyout', `${out}-key.pem`, '-out', csr,
      ]) // prettier-ignore
      await openssl([
        'x509', '-req', '-in', csr, '-CA', certPath, '-CAkey', keyPath,
        '-set_serial', String(serial++), '-days', String(options.days ?? 30), '-sha256',
        '-extfile', ext, '-out', `${out}-cert.pem`,
      ]) // prettier-ignore
      return readIssued(`${out}-cert.pem`, `${out}-key.pem`)
    },
  }
}

/**
 * A CA, a server certificate for `serverNames` (default localhost and 127.0.0.1) and a client
 * certificate, laid out in the folders qemu-nbd, nbdkit and libnbd tools expect.
 */
export async function makeTlsFixture(
  dir: string,
  serverNames: readonly string[] = ['localhost', '127.0.0.1'],
): Promise<TlsFixture> {
  const ca = await makeTestCa(join(dir, 'ca'))
  const serverDir = join(dir, 'server')
  const clientDir = join(dir, 'client')
  await Promise.all([mkdir(serverDir, { recursive: true }), mkdir(clientDir, { recursive: true })])
  const server = await ca.issue('server', {
    commonName: serverNames[0] ?? 'localhost',
    altNames: serverNames,
  })
  const client = await ca.issue('client', { commonName: 'strata-client', usage: 'client', altNames: [] })
  await Promise.all([
    writeFile(join(serverDir, 'ca-cert.pem'), ca.cert),
    writeFile(join(serverDir, 'server-cert.pem'), server.cert),
    writeFile(join(serverDir, 'server-key.pem'), server.key, { mode: 0o600 }),
    writeFile(join(clientDir, 'ca-cert.pem'), ca.cert),
    writeFile(join(clientDir, 'client-cert.pem'), client.cert),
    writeFile(join(clientDir, 'client-key.pem'), client.key, { mode: 0o600 }),
  ])
  return { ca, server, client, serverDir, clientDir }
}
