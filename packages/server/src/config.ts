// The server's configuration: defaults, then `<data>/config.json`, then environment variables, then the
// caller's overrides (command-line flags). The key that seals stored secrets comes from STRATA_SECRET_KEY
// or a key file generated at first start (mode 0600) in the data directory.
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StrataError } from '@strata/core'

export interface ServerConfig {
  readonly dataDir: string
  readonly port: number
  readonly host: string
  readonly secretKey: Buffer
  readonly adminPassword?: string
  /** The built web UI (packages/web/dist). */
  readonly webDir: string
  /**
   * The TLS-terminating proxies in front of the server (true: any peer; a list: these addresses or
   * CIDR ranges). Only their X-Forwarded-For and X-Forwarded-Proto are believed: the client address
   * that login limits count, and whether cookies are marked Secure. false (default): no proxy.
   */
  readonly trustProxy: boolean | readonly string[]
  /** `metrics: { listen: 'host:port' }`: GET /metrics without authentication on that address. */
  readonly metrics?: { readonly listen: ListenAddress }
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
  readonly trustProxy?: boolean | readonly string[]
  readonly metrics?: { readonly listen: string }
}

type Env = Record<string, string | undefined>

export class ConfigError extends StrataError {
  constructor(message: string) {
    super('INVALID_CONFIG', message)
  }
}

export const DEFAULT_PORT = 8470

export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env): ServerConfig {
  const dataDir = resolve(overrides.dataDir ?? env.STRATA_DATA_DIR ?? join(homedir(), '.strata', 'server'))
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = readConfigFile(join(dataDir, 'config.json'))
  const port = overrides.port ?? numberFrom(env.STRATA_PORT, 'STRATA_PORT') ?? file.port ?? DEFAULT_PORT
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`port ${port} is not a port`)
  return {
    dataDir,
    port,
    host: overrides.host ?? env.STRATA_HOST ?? file.host ?? '127.0.0.1',
    secretKey: secretKey(env.STRATA_SECRET_KEY, file.secretKeyFile ?? join(dataDir, 'secret.key')),
    adminPassword: overrides.adminPassword ?? (env.STRATA_ADMIN_PASSWORD || undefined),
    webDir:
      overrides.webDir ?? env.STRATA_WEB_DIR ?? fileURLToPath(new URL('../../web/dist', import.meta.url)),
    trustProxy: overrides.trustProxy ?? file.trustProxy ?? false,
    ...metricsConfig(overrides.metrics ?? file.metrics),
  }
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
  port?: number
  host?: string
  secretKeyFile?: string
  trustProxy?: boolean | string[]
  metrics?: { listen: string }
}

function readConfigFile(path: string): ConfigFile {
  if (!existsSync(path)) return {}
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new ConfigError(`${path}: not JSON (${(error as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(`${path}: an object is expected`)
  const known = new Set(['port', 'host', 'secretKeyFile', 'trustProxy', 'metrics'])
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
    throw new ConfigError(`${path}: metrics is { "listen": "host:port" } (e.g. "127.0.0.1:9470")`)
  return o
}

function isMetrics(value: unknown): value is { listen: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return (
    keys.length === 1 && keys[0] === 'listen' && typeof (value as { listen: unknown }).listen === 'string'
  )
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

function secretKey(fromEnv: string | undefined, file: string): Buffer {
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^[0-9a-fA-F]{64}$/.test(fromEnv)) throw new ConfigError('STRATA_SECRET_KEY: 64 hex digits')
    return Buffer.from(fromEnv, 'hex')
  }
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim()
    if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new ConfigError(`${file}: 64 hex digits expected`)
    return Buffer.from(text, 'hex')
  }
  const key = randomBytes(32)
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
  return key
}
