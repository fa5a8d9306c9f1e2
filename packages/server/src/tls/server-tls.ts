// What the server serves HTTPS with: the PEM certificate (with its chain, if the file has one) and key,
// checked to belong together, and the certificate's SHA-256 fingerprint that clients pin.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { ConfigError } from '../config-error.js'
import { ensureSelfSigned, type CertificateFiles } from './self-signed.js'
import { SELF_SIGNED, type TlsSetting } from './tls-setting.js'

const MAX_PEM_BYTES = 1024 * 1024

export interface ServerTls {
  readonly cert: string
  readonly key: string
  readonly files: CertificateFiles
  /** SHA-256 of the certificate, upper-case hex pairs joined by ':' (openssl's format). */
  readonly fingerprint: string
  readonly subject: string
  readonly validTo: Date
  readonly selfSigned: boolean
}

/** The setting's files, making the self-signed certificate at its first use. */
export async function prepareServerTls(
  setting: TlsSetting,
  dataDir: string,
  host: string,
  signal: AbortSignal,
): Promise<ServerTls> {
  const selfSigned = setting === SELF_SIGNED
  const files = selfSigned ? await ensureSelfSigned(dataDir, host, signal) : setting
  return readServerTls(files, selfSigned)
}

export function readServerTls(files: CertificateFiles, selfSigned: boolean): ServerTls {
  const cert = readPem(files.cert)
  const key = readPem(files.key)
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (cause) {
    throw invalid(`${files.cert}: not a PEM certificate`, cause)
  }
  let privateKey
  try {
    privateKey = createPrivateKey(key)
  } catch (cause) {
    throw invalid(`${files.key}: not an unencrypted PEM private key`, cause)
  }
  if (!x509.checkPrivateKey(privateKey))
    throw invalid(`${files.key} is not the private key of the certificate in ${files.cert}`)
  return {
    cert,
    key,
    files,
    fingerprint: x509.fingerprint256,
    subject: x509.subject.replace(/\n/g, ', '),
    validTo: new Date(x509.validTo),
    selfSigned,
  }
}

function readPem(path: string): string {
  try {
    if (statSync(path).size > MAX_PEM_BYTES) throw invalid(`${path}: larger than ${MAX_PEM_BYTES} bytes`)
    return readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw invalid(`${path}: cannot be read (${(error as Error).message})`, error)
  }
}

function invalid(message: string, cause?: unknown): ConfigError {
  return new ConfigError(message, { code: 'INVALID_TLS', cause })
}
