// Paths inside an XO remote: '/'-separated, relative to its root. Aliases and parent names are relative
// to the file that holds them; a leading '/' means the remote's root (XO's handlers are rooted there).
// Nothing may climb out of the remote.
import { XoError } from '../errors.js'

/** Where XO keeps VM backups. */
export const VM_BACKUP_DIR = 'xo-vm-backups'

export const dirOf = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')))
export const baseOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1)

/** `relative` resolved against the directory of `from`; XO_PATH_INVALID when it leaves the remote. */
export function resolveFrom(from: string, relative: string, what: string): string {
  if (relative === '' || relative.includes('\0') || relative.includes('\\')) {
    throw new XoError('XO_PATH_INVALID', `${what}: '${relative}' is not a path`)
  }
  const parts = relative.startsWith('/')
    ? []
    : dirOf(from)
        .split('/')
        .filter((p) => p !== '')
  for (const part of relative.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (parts.length === 0) {
        throw new XoError('XO_PATH_INVALID', `${what}: '${relative}' leaves the remote`)
      }
      parts.pop()
    } else parts.push(part)
  }
  if (parts.length === 0)
    throw new XoError('XO_PATH_INVALID', `${what}: '${relative}' names the remote's root`)
  return parts.join('/')
}

/** '20250101T010203Z' (XO's file-name date, UTC) → ms since the epoch; undefined if it is not one. */
export function parseFileDate(name: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[]
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!)
  return Number.isNaN(ms) ? undefined : ms
}

/** A VM uuid as XO names its directory. */
export const isUuid = (text: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)
