// File-system helpers of LocalStore: error mapping, directory fsync, the ordered directory walk, the
// streamed walk of leftovers, and the path checks that keep symbolic links out of a repository.
import { chmod, lstat, mkdir, open, opendir, readdir, stat, unlink } from 'node:fs/promises'
import type { Dirent } from 'node:fs'
import { dirname, join } from 'node:path'
import { StrataError, throwIfAborted } from '../shared/index.js'
import type { Leftover, ObjectInfo } from './object-store.js'
import { StorageError, type StorageErrorCode } from './storage-error.js'

/** Names of in-flight writes. Never listed, never valid key segments. */
export const TEMP_PREFIX = '.strata-tmp-'
/** Names of the files that keep an immutable object's date (local-immutable.ts). Never listed. */
export const UNTIL_PREFIX = '.strata-until-'

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

/** Objects and directories a local store creates are its owner's alone, whatever the umask. */
export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

export function symlinkRefused(what: string, storeName: string): StorageError {
  return new StorageError(
    'SYMLINK_REFUSED',
    `'${what}' in ${storeName} runs through a symbolic link: a repository holds only files and ` +
      'directories, and Strata never follows a link inside one',
  )
}

/**
 * Checks the directories of a key below `root` (whose own path may hold links: the admin chose it):
 * a symbolic link among them is SYMLINK_REFUSED. With `create`, missing ones are made (DIR_MODE, set
 * explicitly since the umask could take bits away) and the first one made is returned. A link planted
 * between this check and the use of the path is not caught (no openat() in Node): see docs/security.md.
 */
export async function checkDirs(
  root: string,
  parts: readonly string[],
  what: string,
  storeName: string,
  create = false,
): Promise<string | undefined> {
  let created: string | undefined
  if (create && (await stat(root).catch(() => undefined)) === undefined) {
    created = await mkdir(root, { recursive: true, mode: DIR_MODE })
    await chmod(root, DIR_MODE)
  }
  let path = root
  for (const part of parts) {
    path = join(path, part)
    let info = await lstat(path).catch(absentAsUndefined)
    if (info === undefined) {
      if (!create) return undefined
      const made = await mkdir(path, { mode: DIR_MODE }).then(
        () => true,
        (error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false // a racing put made it
          throw error
        },
      )
      if (made) {
        await chmod(path, DIR_MODE)
        created ??= path
        continue
      }
      info = await lstat(path)
    }
    if (info.isSymbolicLink()) throw symlinkRefused(what, storeName)
    if (!info.isDirectory()) return created // the operation itself reports a key running through an object
  }
  return created
}

function absentAsUndefined(error: unknown): undefined {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
  throw error
}

function isReserved(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || name.startsWith(UNTIL_PREFIX)
}

/** Every file under `root` whose key starts with `prefix`, in key order, without temp files. */
export async function* walk(
  root: string,
  prefix: string,
  signal: AbortSignal | undefined,
  storeName: string,
  keysOnly = false,
): AsyncGenerator<ObjectInfo> {
  const slash = prefix.lastIndexOf('/')
  const base = prefix.slice(0, slash + 1)
  const parts = base === '' ? [] : base.slice(0, -1).split('/')
  // A prefix whose directory part is not a valid key path matches nothing.
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) return
  await checkDirs(root, parts, prefix, storeName).catch((error: unknown) => {
    throw fsError(error, `cannot list '${prefix}' in ${storeName}`)
  })
  yield* walkDir(join(root, ...parts), base, prefix.slice(slash + 1), signal, storeName, keysOnly)
}

/**
 * One directory in key order. Listing is a chain of small file-system calls (a readdir per directory,
 * an lstat per file), each a round trip to libuv's threads: the next sibling directories are read
 * ahead and the files of a directory stat'ed together, a bounded window at a time, so that a
 * repository of 10,000 points (a directory each) lists in a fraction of the time, in the same order.
 * `keysOnly`: a regular file's key comes from its directory entry alone (no stat; size 0).
 */
async function* walkDir(
  dir: string,
  base: string,
  filter: string,
  signal: AbortSignal | undefined,
  storeName: string,
  keysOnly: boolean,
  read: Promise<Dirent[]> = readEntries(dir, storeName),
): AsyncGenerator<ObjectInfo> {
  throwIfAborted(signal)
  const names = inKeyOrder(
    (await read)
      .filter((e) => e.name.startsWith(filter) && !isReserved(e.name))
      // Directories sort as 'name/': their keys continue with '/'.
      .map((e) => ({
        name: e.name,
        isDir: e.isDirectory(),
        // A symbolic link is not an object: only a regular file's entry stands for one without a stat.
        isFile: e.isFile(),
        order: e.isDirectory() ? `${e.name}/` : e.name,
      })),
  )
  const ahead = new Map<number, Promise<Dirent[] | ObjectInfo | undefined>>()
  const start = (i: number): void => {
    const entry = names[i]
    if (entry === undefined || ahead.has(i)) return
    const path = join(dir, entry.name)
    if (keysOnly && entry.isFile) return
    const work = entry.isDir ? readEntries(path, storeName) : statObject(path, base + entry.name, storeName)
    work.catch(() => undefined) // awaited in its turn below, where its error is thrown
    ahead.set(i, work)
  }
  for (let i = 0; i < names.length; i++) {
    const entry = names[i]!
    if (keysOnly && entry.isFile) {
      yield { key: base + entry.name, size: 0 }
      continue
    }
    for (let j = i; j < i + WALK_AHEAD; j++) start(j)
    const work = ahead.get(i)!
    ahead.delete(i)
    if (entry.isDir) {
      yield* walkDir(
        join(dir, entry.name),
        `${base}${entry.name}/`,
        '',
        signal,
        storeName,
        keysOnly,
        work as Promise<Dirent[]>,
      )
      continue
    }
    const info = (await work) as ObjectInfo | undefined
    if (info !== undefined) yield info
  }
}

const WALK_AHEAD = 16

/** Byte order of UTF-8, like S3; names in ASCII (a repository's keys) compare as strings, cheaper. */
function inKeyOrder<T extends { order: string }>(entries: T[]): T[] {
  // eslint-disable-next-line no-control-regex
  if (entries.every((e) => /^[\x00-\x7f]*$/.test(e.order)))
    return entries.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
  const bytes = new Map(entries.map((e) => [e, Buffer.from(e.order)]))
  return entries.sort((a, b) => Buffer.compare(bytes.get(a)!, bytes.get(b)!))
}

/** lstat: a symbolic link is not an object (and what it points at is not in the repository). */
async function statObject(path: string, key: string, storeName: string): Promise<ObjectInfo | undefined> {
  const info = await lstat(path).catch((error: unknown) => {
    // Deleted between readdir and stat: it is simply not there any more.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fsError(error, `cannot stat '${key}' in ${storeName}`)
  })
  return info?.isFile() ? { key, size: info.size, modified: info.mtime } : undefined
}

async function readEntries(dir: string, storeName: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw fsError(error, `cannot list '${dir}' in ${storeName}`)
  }
}

/**
 * Temp files older than `olderThanMs` anywhere under `root`, as a stream: each directory is read
 * entry by entry (opendir), so that a repository of millions of objects is never held in memory.
 * Symbolic links are neither followed nor reported.
 */
export async function* walkLeftovers(
  root: string,
  olderThanMs: number,
  signal?: AbortSignal,
): AsyncGenerator<Leftover & { readonly path: string }> {
  yield* leftoversIn(root, '', Date.now() - olderThanMs, signal)
}

async function* leftoversIn(
  dir: string,
  base: string,
  cutoff: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Leftover & { readonly path: string }> {
  const handle = await opendir(dir).catch(absentAsUndefined)
  if (handle === undefined) return
  for await (const entry of handle) {
    throwIfAborted(signal)
    const path = join(dir, entry.name)
    const name = base + entry.name
    if (entry.isDirectory()) yield* leftoversIn(path, `${name}/`, cutoff, signal)
    if (!entry.isFile() || !entry.name.startsWith(TEMP_PREFIX)) continue
    const info = await lstat(path).catch(() => undefined) // gone meanwhile: finished or removed
    if (info === undefined || !info.isFile() || info.mtimeMs > cutoff) continue
    yield { path, name, size: info.size, started: info.mtime }
  }
}

/** Removes temp files older than `olderThanMs` anywhere under `root`; returns how many. */
export async function removeOldTemps(
  root: string,
  olderThanMs: number,
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0
  for await (const leftover of walkLeftovers(root, olderThanMs, signal)) {
    await unlink(leftover.path).then(
      () => removed++,
      () => undefined, // removed by another gc meanwhile
    )
  }
  return removed
}
