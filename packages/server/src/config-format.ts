// A config file's text to a plain object, by its name: TOML (`.toml`: the production file,
// /etc/strata/config.toml) or JSON (`.json`: the data directory's config.json, as before). Bounded: a
// config is a few lines, so a huge file is a mistake, not a config.
import { readFileSync, statSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { ConfigError } from './config-error.js'

export const MAX_CONFIG_BYTES = 64 * 1024

export function readConfigObject(path: string): Record<string, unknown> {
  const kind = extname(path).toLowerCase()
  if (kind !== '.toml' && kind !== '.json')
    throw new ConfigError(`${path}: a config file is .toml or .json (read by its name)`)
  let text: string
  try {
    if (statSync(path).size > MAX_CONFIG_BYTES)
      throw new ConfigError(`${path}: larger than ${MAX_CONFIG_BYTES} bytes, not a config file`)
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new ConfigError(`${path}: cannot be read (${(error as Error).message})`, { cause: error })
  }
  const value = parseText(path, text, kind)
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(`${path}: an object is expected`)
  return value as Record<string, unknown>
}

function parseText(path: string, text: string, kind: string): unknown {
  try {
    return kind === '.toml' ? parseToml(text) : JSON.parse(text)
  } catch (error) {
    const what = kind === '.toml' ? 'TOML' : 'JSON'
    const reason = (error as Error).message.split('\n')[0]
    throw new ConfigError(`${path}: not ${what} (${reason})`, { cause: error })
  }
}
