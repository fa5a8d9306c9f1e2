// How the server serves HTTPS, as the config says it: a certificate and key the admin provides, or a
// self-signed certificate that the server makes at its first start and keeps in its data directory.
import { isAbsolute, resolve } from 'node:path'
import { ConfigError } from '../config-error.js'

export const SELF_SIGNED = 'self-signed'

export type TlsSetting = { readonly cert: string; readonly key: string } | typeof SELF_SIGNED

/**
 * `tls = "self-signed"` or `[tls] cert = "...", key = "..."` (`where` names the file for messages);
 * relative paths are taken from `base`, the config file's directory.
 */
export function parseTlsSetting(value: unknown, where: string, base: string): TlsSetting {
  if (value === SELF_SIGNED) return SELF_SIGNED
  const shape = `${where}: tls is "${SELF_SIGNED}" or a table with cert and key (paths to PEM files)`
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(shape)
  const fields = value as Record<string, unknown>
  for (const key of Object.keys(fields))
    if (key !== 'cert' && key !== 'key') throw new ConfigError(`${where}: unknown field 'tls.${key}'`)
  const { cert, key } = fields
  if (typeof cert !== 'string' || cert === '' || typeof key !== 'string' || key === '')
    throw new ConfigError(shape)
  return { cert: fromBase(base, cert), key: fromBase(base, key) }
}

export function fromBase(base: string, path: string): string {
  return isAbsolute(path) ? path : resolve(base, path)
}
