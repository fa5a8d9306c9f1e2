// The server's self-signed certificate, made at the first start that asks for one (tls = "self-signed")
// and kept in <data>/tls/, so that its fingerprint, which agents and admins pin, survives restarts. The
// key is made here (ECDSA P-256) and written owner-only before openssl sees it; openssl gets only paths.
import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { ConfigError } from '../config-error.js'

export interface CertificateFiles {
  readonly cert: string
  readonly key: string
}

/** Ten years: the certificate is trusted by its pinned fingerprint, which a renewal would change. */
export const SELF_SIGNED_DAYS = 3650

export function selfSignedFiles(dataDir: string): CertificateFiles {
  const dir = join(dataDir, 'tls')
  return { cert: join(dir, 'server-cert.pem'), key: join(dir, 'server-key.pem') }
}

/** The files, made when both are absent; one without the other is refused rather than replaced. */
export async function ensureSelfSigned(
  dataDir: string,
  host: string,
  signal: AbortSignal,
): Promise<CertificateFiles> {
  const files = selfSignedFiles(dataDir)
  const [hasCert, hasKey] = [existsSync(files.cert), existsSync(files.key)]
  if (hasCert && hasKey) return files
  if (hasCert || hasKey)
    throw new ConfigError(
      `${hasCert ? files.key : files.cert} is missing beside ${hasCert ? files.cert : files.key}: ` +
        'remove both to make a new self-signed certificate (its fingerprint changes)',
      { code: 'INVALID_TLS' },
    )
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 })
  const temp = join(dataDir, 'tls', `.new-${randomBytes(6).toString('hex')}`)
  mkdirSync(temp, { mode: 0o700 })
  try {
    await makeCertificate(temp, host, signal)
    renameSync(join(temp, 'key.pem'), files.key)
    renameSync(join(temp, 'cert.pem'), files.cert)
  } finally {
    rmSync(temp, { recursive: true, force: true })
  }
  return files
}

async function makeCertificate(dir: string, host: string, signal: AbortSignal): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const keyPath = join(dir, 'key.pem')
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
  const cnf = join(dir, 'openssl.cnf')
  writeFileSync(cnf, opensslConfig(host), { mode: 0o600, flag: 'wx' })
  const certPath = join(dir, 'cert.pem')
  await openssl(
    ['req', '-new', '-x509', '-config', cnf, '-key', keyPath, '-sha256', '-days', String(SELF_SIGNED_DAYS),
      '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-out', certPath], // prettier-ignore
    signal,
  )
  chmodSync(certPath, 0o600)
}

/** Names the certificate is valid for: this machine, loopback, and the address it listens on. */
export function certificateNames(host: string): string[] {
  const wildcard = host === '0.0.0.0' || host === '::' || host === ''
  const names = ['localhost', hostname(), '127.0.0.1', '::1', ...(wildcard ? [] : [host])]
  return [...new Set(names.map((n) => n.replace(/^\[|\]$/g, '')).filter((n) => /^[0-9A-Za-z.:-]+$/.test(n)))]
}

// Self-contained, so that the system's openssl.cnf cannot add extensions of its own. keyCertSign lets a
// client take the certificate itself as its trust anchor (a CA file of one certificate).
function opensslConfig(host: string): string {
  const san = certificateNames(host).map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`))
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ext',
    '[dn]', `CN = ${hostname().replace(/[^0-9A-Za-z.-]/g, '') || 'strata'}`, 'O = Strata server (self-signed)',
    '[ext]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyCertSign',
    'extendedKeyUsage = serverAuth', `subjectAltName = ${san.join(',')}`, 'subjectKeyIdentifier = hash',
  ].join('\n') + '\n' // prettier-ignore
}

function openssl(args: string[], signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { signal, timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error === null) return resolve()
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
      const reason = missing
        ? 'openssl is not installed (apt-get install openssl)'
        : stderr.trim() || error.message
      reject(
        new ConfigError(`cannot make the self-signed certificate: ${reason}`, {
          code: 'INVALID_TLS',
          cause: error,
        }),
      )
    })
  })
}
