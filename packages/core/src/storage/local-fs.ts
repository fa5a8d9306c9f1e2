// File-system helpers of LocalStore: error mapping, directory fsync, and the ordered directory walk.
import { open, readdir, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StrataError, throwIfAborted } from '../shared/index.js'
import type { ObjectInfo } from './object-store.js'
import { StorageError, type StorageErrorCode } from './storage-error.js'

/** Names of in-flight writes. Never listed, never valid key segments. */
export const TEMP_PREFIX = '.strata-tmp-'

const TRANSIENT_CODES = new Set([
  'EAGAIN',
  'EBUSY',
  'ETIMEDOUT',
  'EINTR',
  'EMFILE',
  'ENFILE',
  'ESTALE',
  'ECONNRESET',
])
const DENIED_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])

export function fsError(error: unknown, message: string): StrataError {
  if (error instanceof StrataError) return error
  const errno = (error as NodeJS.ErrnoException | null)?.code ?? 'UNKNOWN'
  const code: StorageErrorCode = TRANSIENT_CODES.has(errno)
    ? 'TRANSIENT'
    : DENIED_CODES.has(errno)
      ? 'ACCESS_DENIED'
      : 'STORE_FAILED'
  return new StorageError(code, `${message}: ${errno}`, { cause: error, details: { errno } })
}

/**
 * The directories whose entries changed when `dir` was made (by a recursive mkdir that created
 * `created` first, or nothing) and a file was renamed into it: `dir`, each new directory's parent.
 */
export function newDirsFor(created: string | undefined, dir: string): string[] {
  const dirs = [dir]
  if (created === undefined) return dirs
  for (let d = dir; d !== created && dirname(d) !== d; d = dirname(d)) dirs.push(dirname(d))
  dirs.push(dirname(created))
  return dirs
}

export async function fsyncDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } catch (error) {
      // Some network file systems refuse fsync on a directory; their server commits entries itself.
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') throw error
    } finally {
      await handle.close()
    }
  }
}

/** Every file under `root` whose key starts with `prefix`, in key order, without temp files. */
export async function* walk(
  root: string,
  prefix: string,
  signal: AbortSignal | undefined,
  storeName: string,
): AsyncGenerator<ObjectInfo> {
  const slash = prefix.lastIndexOf('/')
  const base = prefix.slice(0, slash + 1)
  const parts = base === '' ? [] : base.slice(0, -1).split('/')
  // A prefix whose directory part is not a valid key path matches nothing.
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) return
  yield* walkDir(join(root, ...parts), base, prefix.slice(slash + 1), signal, storeName)
}

async function* walkDir(
  dir: string,
  base: string,
  filter: string,
  signal: AbortSignal | undefined,
  storeName: string,
): AsyncGenerator<ObjectInfo> {
  throwIfAborted(signal)
  const entries = await readEntries(dir, storeName)
  const names = entries
    .filter((e) => e.name.startsWith(filter) && !e.name.startsWith(TEMP_PREFIX))
    // Directories sort as 'name/': their keys continue with '/'. Byte order of UTF-8, like S3.
    .map((e) => ({
      name: e.name,
      isDir: e.isDirectory(),
      order: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name),
    }))
    .sort((a, b) => Buffer.compare(a.order, b.order))
  for (const entry of names) {
    const path = join(dir, entry.name)
    const key = base + entry.name
    if (entry.isDir) {
      yield* walkDir(path, `${key}/`, '', signal, storeName)
      continue
    }
    const info = await stat(path).catch((error: unknown) => {
      // Deleted between readdir and stat: it is simply not there any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw fsError(error, `cannot stat '${key}' in ${storeName}`)
    })
    if (info?.isFile()) yield { key, size: info.size, modified: info.mtime }
  }
}

async function readEntries(dir: string, storeName: string) {
  try {
    return await readdir(dir, { withFileTypes: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw fsError(error, `cannot list '${dir}' in ${storeName}`)
  }
}

/** Removes temp files older than `olderThanMs` anywhere under `root`; returns how many. */
export async function removeOldTemps(
  root: string,
  olderThanMs: number,
  signal?: AbortSignal,
): Promise<number> {
  const cutoff = Date.now() - olderThanMs
  const names = await readdir(root, { recursive: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[]
    throw error
  })
  let removed = 0
  for (const name of names) {
    if (!name.split('/').at(-1)?.startsWith(TEMP_PREFIX)) continue
    throwIfAborted(signal)
    const path = join(root, name)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined || info.mtimeMs > cutoff) continue
    await unlink(path).then(
      () => removed++,
      () => undefined,
    )
  }
  return removed
}
