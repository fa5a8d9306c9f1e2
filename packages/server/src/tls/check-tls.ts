// --check-config's view of how the server would listen: the listening policy, and the TLS files (mode,
// the certificate and key belonging together, expiry, fingerprint) or the self-signed one still to make.
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import type { ConfigFinding } from '../config-finding.js'
import { ConfigError } from '../config-error.js'
import type { ServerConfig } from '../config.js'
import { behindProxy, checkListenPolicy, isLoopbackHost } from './listen-policy.js'
import { selfSignedFiles } from './self-signed.js'
import { readServerTls } from './server-tls.js'
import { SELF_SIGNED } from './tls-setting.js'

type Listening = Pick<ServerConfig, 'host' | 'port' | 'tls' | 'insecureHttp' | 'trustProxy' | 'dataDir'>

export function checkTls(config: Listening): ConfigFinding[] {
  const where = `${config.host} port ${config.port}`
  try {
    checkListenPolicy(config)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return [{ status: 'error', what: 'listen', detail: error.message }]
  }
  if (config.tls === undefined) {
    const why = isLoopbackHost(config.host)
      ? 'a loopback address'
      : config.insecureHttp || !behindProxy(config)
        ? 'insecureHttp: a TLS proxy in front must carry it to clients'
        : 'trustProxy: the TLS proxy named there must carry it to clients'
    return [{ status: 'ok', what: 'listen', detail: `plain HTTP on ${where} (${why})` }]
  }
  return [{ status: 'ok', what: 'listen', detail: `HTTPS on ${where}` }, tlsFinding(config)]
}

function tlsFinding(config: Listening): ConfigFinding {
  const what = 'tls'
  const selfSigned = config.tls === SELF_SIGNED
  const files =
    config.tls === SELF_SIGNED || config.tls === undefined ? selfSignedFiles(config.dataDir) : config.tls
  if (selfSigned && !existsSync(files.cert) && !existsSync(files.key))
    return hasOpenssl()
      ? {
          status: 'ok',
          what,
          detail: `a self-signed certificate is made at the first start in ${files.cert}`,
        }
      : {
          status: 'error',
          what,
          detail: 'the self-signed certificate needs openssl: apt-get install openssl',
        }
  try {
    const keyMode = statSync(files.key).mode
    if ((keyMode & 0o037) !== 0)
      return {
        status: 'error',
        what,
        detail: `${files.key}: mode 0${(keyMode & 0o777).toString(8)}, the private key is open to others: chmod 600 (or 640 for a group)`,
      }
    const tls = readServerTls(files, selfSigned)
    if (tls.validTo.getTime() < Date.now())
      return { status: 'error', what, detail: `${files.cert} expired on ${tls.validTo.toISOString()}` }
    const detail = `${files.cert} (${tls.subject}, valid until ${tls.validTo.toISOString()}), SHA-256 fingerprint ${tls.fingerprint}`
    return { status: 'ok', what, detail }
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : `${files.key}: ${(error as Error).message}`
    return { status: 'error', what, detail: message }
  }
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}
