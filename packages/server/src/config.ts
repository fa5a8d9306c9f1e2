// The server's configuration: defaults, then the config file, then environment variables, then the
// caller's overrides (command-line flags). The config file is the one named by --config or STRATA_CONFIG
// (TOML or JSON, e.g. /etc/strata/config.toml), else `<data>/config.json` when present; never both. The
// key that seals stored secrets comes from STRATA_SECRET_KEY or a key file generated at first start
// (mode 0600) in the data directory.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from './config-error.js'
import { readConfigObject } from './config-format.js'
import { databaseFromUrl, parseDatabaseSetting, type DatabaseSetting } from './db/db-config.js'
import { fromBase, parseTlsSetting, type TlsSetting } from './tls/tls-setting.js'

export { ConfigError } from './config-error.js'

export interface ServerConfig {
  readonly dataDir: string
  readonly port: number
  readonly host: string
  readonly secretKey: Buffer
  /** The key file the secret key is read from (or made in); undefined when STRATA_SECRET_KEY gives it. */
  readonly secretKeyFile?: string
  readonly adminPassword?: string
  /** The built web UI (packages/web/dist). */
  readonly webDir: string
  /** The config file that was read, if any. */
  readonly configFile?: string
  /** HTTPS: the admin's certificate and key, or a self-signed certificate kept in the data directory. */
  readonly tls?: TlsSetting
  /** Plain HTTP on a non-loopback address, allowed by the admin (a TLS proxy in front); see listen-policy. */
  readonly insecureHttp: boolean
  /**
   * The TLS-terminating proxies in front of the server (true: any peer; a list: these addresses or
   * CIDR ranges). Only their X-Forwarded-For and X-Forwarded-Proto are believed: the client address
   * that login limits count, and whether cookies are marked Secure. false (default): no proxy.
   */
  readonly trustProxy: boolean | readonly string[]
  /** `[metrics] listen = 'host:port'`: GET /metrics without authentication on that address. */
  readonly metrics?: { readonly listen: ListenAddress }
  /** PostgreSQL (--db, STRATA_DB_URL, the file's db); undefined: SQLite in the data directory. */
  readonly db?: DatabaseSetting
}

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

export interface ConfigOverrides {
  readonly dataDir?: string
  readonly port?: number
  readonly host?: string
  readonly adminPassword?: string
  readonly webDir?: string
  /** The config file (--config); STRATA_CONFIG otherwise. */
  readonly configFile?: string
  readonly tls?: TlsSetting
  readonly insecureHttp?: boolean
  readonly trustProxy?: boolean | readonly string[]
  readonly metrics?: { readonly listen: string }
  /** --db: a postgres:// URL. */
  readonly db?: string
}

type Env = Record<string, string | undefined>

export const DEFAULT_PORT = 8470

/** The configuration, with the data directory created and the secret key read or generated. */
export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env): ServerConfig {
  const config = readServerConfig(overrides, env)
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const key = readSecretKey(env, config.secretKeyFile) ?? generateSecretKey(config.secretKeyFile!)
  return { ...config, secretKey: key }
}

/** The configuration as the files, the environment and the overrides say, without touching the disk. */
export function readServerConfig(
  overrides: ConfigOverrides = {},
  env: Env = process.env,
): Omit<ServerConfig, 'secretKey'> {
  const named = configFileOf(overrides, env)
  const dataDir = resolve(
    overrides.dataDir ??
      (env.STRATA_DATA_DIR || undefined) ??
      named.file.dataDir ??
      join(homedir(), '.strata', 'server'),
  )
  const { path: configFile, file } = named.path === undefined ? configFileIn(dataDir) : named
  if (named.path !== undefined && existsSync(join(dataDir, 'config.json')))
    throw new ConfigError(
      `two config files: ${named.path} and ${join(dataDir, 'config.json')}; keep one (move the ` +
        `settings of config.json to ${named.path})`,
    )
  const port = overrides.port ?? numberFrom(env.STRATA_PORT, 'STRATA_PORT') ?? file.port ?? DEFAULT_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port ${port} is not a port`)
  const keyFromEnv = env.STRATA_SECRET_KEY !== undefined && env.STRATA_SECRET_KEY !== ''
  return {
    dataDir,
    port,
    host: overrides.host ?? env.STRATA_HOST ?? file.host ?? '127.0.0.1',
    secretKeyFile: keyFromEnv ? undefined : (file.secretKeyFile ?? join(dataDir, 'secret.key')),
    adminPassword: overrides.adminPassword ?? (env.STRATA_ADMIN_PASSWORD || undefined),
    webDir:
      overrides.webDir ?? env.STRATA_WEB_DIR ?? fileURLToPath(new URL('../../web/dist', import.meta.url)),
    configFile,
    tls: overrides.tls ?? file.tls,
    insecureHttp: overrides.insecureHttp ?? file.insecureHttp ?? false,
    trustProxy: overrides.trustProxy ?? file.trustProxy ?? false,
    ...metricsConfig(overrides.metrics ?? file.metrics),
    ...databaseConfig(overrides.db, env.STRATA_DB_URL, file.db),
  }
}

/** The flag, else the environment, else the file; a password only the file gives stays with its URL. */
function databaseConfig(
  flag: string | undefined,
  env: string | undefined,
  file: DatabaseSetting | undefined,
): Pick<ServerConfig, 'db'> {
  if (flag !== undefined) return { db: databaseFromUrl(flag, '--db') }
  if (env !== undefined && env !== '') return { db: databaseFromUrl(env, 'STRATA_DB_URL') }
  return file === undefined ? {} : { db: file }
}

function metricsConfig(metrics: { listen: string } | undefined): Pick<ServerConfig, 'metrics'> {
  return metrics === undefined ? {} : { metrics: { listen: parseListen(metrics.listen) } }
}

/** 'host:port' or '[v6]:port'; port 0 takes a free one (tests). */
export function parseListen(text: string): ListenAddress {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || port > 65535)
    throw new ConfigError(`metrics.listen: '${text}' is not 'host:port' (e.g. '127.0.0.1:9470')`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}

interface ConfigFile {
  dataDir?: string
  port?: number
  host?: string
  secretKeyFile?: string
  tls?: TlsSetting
  insecureHttp?: boolean
  trustProxy?: boolean | string[]
  metrics?: { listen: string }
  db?: DatabaseSetting
}

/** The file named by --config or STRATA_CONFIG: it must exist. */
function configFileOf(overrides: ConfigOverrides, env: Env): { path?: string; file: ConfigFile } {
  const named = overrides.configFile ?? (env.STRATA_CONFIG || undefined)
  if (named === undefined) return { file: {} }
  const path = resolve(named)
  if (!existsSync(path)) throw new ConfigError(`${path}: no such config file`)
  return { path, file: readConfigFile(path) }
}

/** `<data>/config.json`, read as before when present; it cannot move the data directory it is in. */
function configFileIn(dataDir: string): { path?: string; file: ConfigFile } {
  const path = join(dataDir, 'config.json')
  if (!existsSync(path)) return { file: {} }
  const file = readConfigFile(path)
  if (file.dataDir !== undefined)
    throw new ConfigError(`${path}: dataDir belongs in the file given with --config or STRATA_CONFIG`)
  return { path, file }
}

function readConfigFile(path: string): ConfigFile {
  const value = readConfigObject(path)
  const known = new Set([
    'dataDir',
    'port',
    'host',
    'secretKeyFile',
    'tls',
    'insecureHttp',
    'trustProxy',
    'metrics',
    'db',
  ])
  for (const key of Object.keys(value))
    if (!known.has(key)) throw new ConfigError(`${path}: unknown field '${key}'`)
  const o = value as ConfigFile
  if (o.port !== undefined && typeof o.port !== 'number') throw new ConfigError(`${path}: port is a number`)
  if (o.host !== undefined && typeof o.host !== 'string') throw new ConfigError(`${path}: host is a string`)
  if (o.trustProxy !== undefined && !isTrustProxy(o.trustProxy))
    throw new ConfigError(
      `${path}: trustProxy is true, false or a list of proxy addresses or CIDR ranges ("10.0.0.1", "10.0.0.0/8")`,
    )
  if (o.metrics !== undefined && !isMetrics(o.metrics))
    throw new ConfigError(`${path}: metrics is { listen = "host:port" } (e.g. "127.0.0.1:9470")`)
  return { ...o, ...fileSettings(path, value) }
}

function isMetrics(value: unknown): value is { listen: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return (
    keys.length === 1 && keys[0] === 'listen' && typeof (value as { listen: unknown }).listen === 'string'
  )
}

/** The fields added with the production config file; paths in a file are relative to its directory. */
function fileSettings(path: string, value: Record<string, unknown>): ConfigFile {
  const base = dirname(path)
  const settings: ConfigFile = {}
  for (const name of ['dataDir', 'secretKeyFile'] as const) {
    const v = value[name]
    if (v === undefined) continue
    if (typeof v !== 'string' || v === '') throw new ConfigError(`${path}: ${name} is a path`)
    settings[name] = fromBase(base, v)
  }
  if (value.insecureHttp !== undefined && typeof value.insecureHttp !== 'boolean')
    throw new ConfigError(`${path}: insecureHttp is true or false`)
  if (value.tls !== undefined) settings.tls = parseTlsSetting(value.tls, path, base)
  if (value.db !== undefined) settings.db = parseDatabaseSetting(value.db, path)
  return settings
}

function isTrustProxy(value: unknown): boolean {
  if (typeof value === 'boolean') return true
  return (
    Array.isArray(value) &&
    value.length <= 100 &&
    value.every((v) => typeof v === 'string' && /^[0-9A-Fa-f.:]{2,45}(\/\d{1,3})?$/.test(v))
  )
}

function numberFrom(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === '') return undefined
  const n = Number(text)
  if (!Number.isInteger(n)) throw new ConfigError(`${what}: '${text}' is not a number`)
  return n
}

/** STRATA_SECRET_KEY, else the key file; undefined when the file is not there yet. */
export function readSecretKey(env: Env, file: string | undefined): Buffer | undefined {
  const fromEnv = env.STRATA_SECRET_KEY
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^[0-9a-fA-F]{64}$/.test(fromEnv)) throw new ConfigError('STRATA_SECRET_KEY: 64 hex digits')
    return Buffer.from(fromEnv, 'hex')
  }
  if (file === undefined || !existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8').trim()
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new ConfigError(`${file}: 64 hex digits expected`)
  return Buffer.from(text, 'hex')
}

function generateSecretKey(file: string): Buffer {
  const key = randomBytes(32)
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
  return key
}
