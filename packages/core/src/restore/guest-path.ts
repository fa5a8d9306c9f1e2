// Paths inside a guest filesystem, as the user gives them and as guestfish takes them: absolute, with no
// '..' (the appliance would resolve it; we never let a path climb), names kept as raw bytes since a
// guest's file names need not be UTF-8.
import { FileRestoreError } from './errors.js'
import type { EntryType, GuestStat } from './guestfish-syntax.js'
import { entryType } from './guestfish-syntax.js'

export const MAX_PATH_BYTES = 4096

/** The components of an absolute path ('/' has none); '.' and empty components are dropped. */
export function pathComponents(path: string): Buffer[] {
  const bytes = Buffer.from(path, 'utf8')
  if (!path.startsWith('/'))
    throw new FileRestoreError('INVALID_PATH', `'${path}' is not an absolute path in the filesystem`)
  if (bytes.length > MAX_PATH_BYTES)
    throw new FileRestoreError(
      'INVALID_PATH',
      `a path of ${bytes.length} bytes is longer than ${MAX_PATH_BYTES}`,
    )
  if (path.includes('\0')) throw new FileRestoreError('INVALID_PATH', 'a path cannot hold a NUL byte')
  const parts = path.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.includes('..'))
    throw new FileRestoreError('INVALID_PATH', `'${path}' climbs with '..': give the path without it`)
  return parts.map((p) => Buffer.from(p, 'utf8'))
}

/** '/'-joined bytes of components (the root for none). */
export function joinPath(components: readonly Buffer[]): Buffer {
  if (components.length === 0) return Buffer.from('/')
  return Buffer.concat(components.flatMap((c) => [Buffer.from('/'), c]))
}

export function childPath(parent: Buffer, name: Buffer): Buffer {
  return parent.length === 1 && parent[0] === 0x2f
    ? Buffer.concat([parent, name])
    : Buffer.concat([parent, Buffer.from('/'), name])
}

/** What a listing or an archive says of one entry. */
export interface FileEntry {
  readonly name: string
  /** The absolute path in the filesystem. */
  readonly path: string
  readonly type: EntryType
  readonly size: number
  /** Permission bits (setuid, setgid, sticky included). */
  readonly mode: number
  /** Modification time, ISO 8601. */
  readonly mtime: string
  /** Where a symbolic link points (shown, never followed). */
  readonly target?: string
}

export function toEntry(path: Buffer, stat: GuestStat, target?: Buffer): FileEntry {
  const slash = path.lastIndexOf(0x2f)
  const name = path.length === 1 ? '/' : path.subarray(slash + 1).toString('utf8')
  return {
    name,
    path: path.toString('utf8'),
    type: entryType(stat.mode),
    size: stat.size,
    mode: stat.mode & 0o7777,
    mtime: new Date(stat.mtimeSec * 1000).toISOString(),
    ...(target === undefined ? {} : { target: target.toString('utf8') }),
  }
}
