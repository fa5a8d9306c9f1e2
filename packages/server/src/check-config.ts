// `strata server --check-config`: what the server would start with, judged without changing anything
// (no directory made, no key generated): the config file, the data directory and the secret key file
// (owner and mode), and how it would listen (the TLS files, or why plain HTTP is allowed). The unit file
// runs it before each start, so a server whose files are unsafe does not start.
import { accessSync, constants, existsSync, statSync, type Stats } from 'node:fs'
import { ConfigError } from './config-error.js'
import { readSecretKey, readServerConfig, type ConfigOverrides } from './config.js'
import type { ConfigFinding } from './config-finding.js'
import { metricsFinding } from './metrics/metrics-finding.js'
import { checkTls } from './tls/check-tls.js'

export interface ConfigCheck {
  readonly ok: boolean
  readonly configFile?: string
  readonly dataDir: string
  readonly findings: readonly ConfigFinding[]
}

type Env = Record<string, string | undefined>

/** Throws ConfigError when the config cannot be read at all (unknown field, bad TOML, missing file). */
export function checkConfig(
  overrides: ConfigOverrides = {},
  env: Env = process.env,
  uid: number = process.getuid?.() ?? -1,
): ConfigCheck {
  const config = readServerConfig(overrides, env)
  const findings: ConfigFinding[] = [
    configFileFinding(config.configFile),
    dataDirFinding(config.dataDir, uid),
    secretKeyFinding(env, config.secretKeyFile, uid),
    ...checkTls(config),
    metricsFinding(config),
    existsSync(config.webDir)
      ? { status: 'ok', what: 'web UI', detail: config.webDir }
      : { status: 'warning', what: 'web UI', detail: `${config.webDir} is not built: the API works alone` },
  ]
  return {
    ok: findings.every((f) => f.status !== 'error'),
    configFile: config.configFile,
    dataDir: config.dataDir,
    findings,
  }
}

function configFileFinding(path: string | undefined): ConfigFinding {
  const what = 'config file'
  if (path === undefined) return { status: 'ok', what, detail: 'none: defaults, environment and flags' }
  const stat = statSync(path)
  if ((stat.mode & 0o022) !== 0)
    return {
      status: 'error',
      what,
      detail: `${path}: ${modeText(stat)}, writable by others than its owner: chmod 640`,
    }
  return { status: 'ok', what, detail: `${path} (${modeText(stat)})` }
}

function dataDirFinding(dir: string, uid: number): ConfigFinding {
  const what = 'data directory'
  if (!existsSync(dir))
    return {
      status: 'error',
      what,
      detail: `${dir} does not exist: create it with mode 0700, owned by the server's user`,
    }
  const stat = statSync(dir)
  if (!stat.isDirectory()) return { status: 'error', what, detail: `${dir} is not a directory` }
  const owner = ownerProblem(dir, stat, uid)
  if (owner !== undefined) return { status: 'error', what, detail: owner }
  if ((stat.mode & 0o077) !== 0)
    return {
      status: 'error',
      what,
      detail: `${dir}: ${modeText(stat)}, open to others than its owner: chmod 700`,
    }
  if (!canWrite(dir)) return { status: 'error', what, detail: `${dir} is not writable` }
  return { status: 'ok', what, detail: `${dir} (${modeText(stat)}, owner uid ${stat.uid})` }
}

function secretKeyFinding(env: Env, file: string | undefined, uid: number): ConfigFinding {
  const what = 'secret key'
  try {
    if (file === undefined) {
      readSecretKey(env, undefined)
      return { status: 'ok', what, detail: 'from STRATA_SECRET_KEY' }
    }
    if (!existsSync(file))
      return { status: 'ok', what, detail: `${file} is made at the first start (mode 0600)` }
    const stat = statSync(file)
    const owner = ownerProblem(file, stat, uid)
    if (owner !== undefined) return { status: 'error', what, detail: owner }
    if ((stat.mode & 0o077) !== 0)
      return {
        status: 'error',
        what,
        detail: `${file}: ${modeText(stat)}, readable by others than its owner: chmod 600`,
      }
    readSecretKey({}, file)
    return { status: 'ok', what, detail: `${file} (${modeText(stat)})` }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return { status: 'error', what, detail: error.message }
  }
}

/** The server's files belong to the user it runs as (run the check as that user: sudo -u strata). */
export function ownerProblem(path: string, stat: Stats, uid: number): string | undefined {
  if (uid < 0 || stat.uid === uid) return undefined
  return `${path} belongs to uid ${stat.uid}, not to uid ${uid} that runs this check (run it as the server's user)`
}

export function modeText(stat: Stats): string {
  return `mode 0${(stat.mode & 0o777).toString(8).padStart(3, '0')}`
}

function canWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}
