// A store in a local directory (or a mounted NFS/SMB share, which is just a directory here).
// Durability rules: an object appears under its key only once it is complete and fsynced (temp file in
// the same directory, fsync, then rename or link), and the directory entry is fsynced before put()
// resolves, so a crash at any point leaves either nothing or the whole object under the key. Large
// objects (chunks) are written with direct I/O where the file system allows it: a backup writes each
// once and does not read it back soon, so the page cache would only cost a copy and evict better data.
// Files are created 0600 and directories 0700; a symbolic link inside the repository is never followed
// (SYMLINK_REFUSED): files are opened with O_NOFOLLOW and the directories of a key are checked first.
// Create-only puts link the temp file to the key where the file system has hard links; where it has not
// (an SMB share), an O_EXCL claim names the one creator, which renames its temp file (local-claim.ts).
// A probe in the root, when the store opens, says which (local-probe.ts).
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, lstat, open, rename, unlink } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { DirectFiles, StrataError, errorCode, throwIfAborted } from '../shared/index.js'
import { publishExclusive } from './local-claim.js'
import {
  checkDirs,
  FILE_MODE,
  fsError,
  fsyncDirs,
  newDirsFor,
  removeOldTemps,
  symlinkRefused,
  TEMP_PREFIX,
  walk,
  walkLeftovers,
} from './local-fs.js'
import { AttributeBatcher, LocalObjectLock, UNTIL_PREFIX, untilPath } from './local-immutable.js'
import { NO_LINK_CODES, probeFileSystem } from './local-probe.js'
import type {
  CallOptions,
  CreateMode,
  FileSystemTraits,
  Leftover,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  RangeOptions,
} from './object-store.js'
import { assertRange } from './range.js'
import { StorageError, assertValidKey } from './storage-error.js'

/** Objects from this size up are written with direct I/O, where available. */
const DIRECT_MIN = 256 * 1024
/** The largest object written so: a 4 MiB chunk (the largest chunk size) and its envelope. */
const DIRECT_MAX = 4 * 1024 * 1024 + 64 * 1024
/** Direct writes at once (each holds an aligned buffer of DIRECT_MAX); more go through the page cache. */
const DIRECT_SLOTS = 4

export interface LocalStoreOptions {
  /** Write large objects with direct I/O where the file system allows it (default true). */
  readonly directWrites?: boolean
  /**
   * How create-only puts are made atomic: 'auto' (the default) as the probe finds (hard links where
   * they work, else an O_EXCL claim); 'exclusive' forces the claim (tests run the suite so).
   */
  readonly createMode?: CreateMode | 'auto'
}

export class LocalStore implements ObjectStore {
  readonly root: string
  readonly name: string
  #direct: Promise<DirectFiles | undefined> | undefined
  readonly #forcedMode: CreateMode | undefined
  #probe: Promise<FileSystemTraits | undefined> | undefined
  #traits: FileSystemTraits | undefined
  /** Immutable objects (`chattr +i`, local-immutable.ts): enabled where the probe finds it works. */
  readonly objectLock: LocalObjectLock

  constructor(root: string, options: LocalStoreOptions = {}) {
    this.root = resolve(root)
    this.name = `local:${this.root}`
    const attributes = new AttributeBatcher(this.name)
    this.objectLock = new LocalObjectLock(this.root, this.name, (key) => this.#path(key), attributes)
    if (options.directWrites === false) this.#direct = Promise.resolve(undefined)
    this.#forcedMode = options.createMode === 'auto' ? undefined : options.createMode
  }

  get capabilities() {
    const createMode = this.#forcedMode ?? this.#modeOf(this.#traits)
    return {
      conditionalCreate: true,
      listAfterWriteConsistent: true,
      ...(createMode === undefined ? {} : { createMode }),
      ...(this.#traits === undefined ? {} : { fileSystem: this.#traits }),
    }
  }

  /**
   * Probes the file system under the root (once; openStore calls it when the store opens, a put when
   * it was not yet): undefined while the root does not exist.
   */
  async probe(options: CallOptions = {}): Promise<FileSystemTraits | undefined> {
    if (this.#traits !== undefined) return this.#traits
    this.#probe ??= probeFileSystem(this.root, options.signal).finally(() => (this.#probe = undefined))
    this.#traits = await this.#probe.catch((error: unknown) => {
      throw fsError(error, `cannot probe the file system of ${this.name}`)
    })
    return this.#traits
  }

  async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    const dir = dirname(path)
    const created = await checkDirs(this.root, dirsOf(key), key, this.name, true).catch((error: unknown) => {
      throw fsError(error, `cannot create the directory of '${key}' in ${this.name}`)
    })
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`)
    try {
      if (!(await this.#writeDirect(temp, data))) await writeSynced(temp, data)
      throwIfAborted(options.signal)
      if (!options.ifNoneMatch) await rename(temp, path)
      else if ((await this.#createMode(options.signal)) === 'link') await this.#linkNew(temp, path, key)
      else await publishExclusive(temp, path, { key, storeName: this.name, signal: options.signal })
    } catch (error) {
      await unlink(temp).catch(() => undefined)
      throw error instanceof StrataError ? error : fsError(error, `cannot write '${key}' to ${this.name}`)
    }
    // After link(), the temp name still points at the data; drop it only once the key is durable.
    await fsyncDirs(newDirsFor(created, dir)).catch((error: unknown) => {
      throw fsError(error, `cannot sync the directory of '${key}' in ${this.name}`)
    })
    if (options.ifNoneMatch) await unlink(temp).catch(() => undefined)
    // Last: an immutable inode could no longer lose its temp name.
    if (options.retain !== undefined) await this.objectLock.retain(path, key, options.retain)
  }

  async get(key: string, options: CallOptions = {}): Promise<Uint8Array> {
    const handle = await this.#openForRead(key, options.signal)
    try {
      // A Buffer is a Uint8Array: returning it avoids copying every object read.
      return await handle.readFile({ signal: options.signal })
    } catch (error) {
      throw this.#readError(error, key)
    } finally {
      await handle.close()
    }
  }

  async getRange(
    key: string,
    offset: number,
    length: number,
    options: RangeOptions = {},
  ): Promise<Uint8Array> {
    assertRange(offset, length, key)
    const handle = await this.#openForRead(key, options.signal)
    try {
      // Sized to what the file holds: no zero-filling of a maximum, and a buffer the bytes fill whole
      // (which a codec worker can then take over without a copy), unless the caller gave one.
      const { size } = await handle.stat()
      const wanted = Math.max(0, Math.min(length, size - offset))
      const { into } = options
      const buffer = into !== undefined && into.length >= length ? into : Buffer.allocUnsafeSlow(wanted)
      let filled = 0
      while (filled < wanted) {
        throwIfAborted(options.signal)
        const { bytesRead } = await handle.read(buffer, filled, wanted - filled, offset + filled)
        if (bytesRead === 0) break // the file shrank meanwhile
        filled += bytesRead
      }
      return buffer.subarray(0, filled)
    } catch (error) {
      throw this.#readError(error, key)
    } finally {
      await handle.close()
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<ObjectInfo | undefined> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    try {
      await checkDirs(this.root, dirsOf(key), key, this.name)
      const info = await lstat(path)
      if (info.isSymbolicLink()) throw symlinkRefused(key, this.name)
      return info.isFile() ? { key, size: info.size, modified: info.mtime } : undefined
    } catch (error) {
      if (isAbsence(error)) return undefined
      throw fsError(error, `cannot stat '${key}' in ${this.name}`)
    }
  }

  list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    return walk(this.root, prefix, options.signal, this.name, options.keysOnly === true)
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    try {
      await checkDirs(this.root, dirsOf(key), key, this.name)
      await unlink(path) // a link itself, never what it points at
    } catch (error) {
      if (isAbsence(error)) return
      if (errorCode(error) !== 'EPERM') throw fsError(error, `cannot delete '${key}' from ${this.name}`)
      await this.objectLock.deleteImmutable(path, key).catch((failure: unknown) => {
        throw fsError(failure, `cannot delete '${key}' from ${this.name}`)
      })
    }
    // The date of an object that was immutable (or whose put stopped before the attribute).
    await unlink(untilPath(path)).catch(() => undefined)
  }

  async removeIncomplete(olderThanMs: number, options: CallOptions = {}): Promise<number> {
    return removeOldTemps(this.root, olderThanMs, options.signal).catch((error: unknown) => {
      throw fsError(error, `cannot remove interrupted writes in ${this.name}`)
    })
  }

  async *listIncomplete(olderThanMs: number, options: CallOptions = {}): AsyncIterable<Leftover> {
    try {
      for await (const { name, size, started } of walkLeftovers(this.root, olderThanMs, options.signal))
        yield { name, size, started }
    } catch (error) {
      throw fsError(error, `cannot list interrupted writes in ${this.name}`)
    }
  }

  /** Opens an object to read, refusing a symbolic link on its path or as the object itself. */
  async #openForRead(key: string, signal?: AbortSignal) {
    const path = this.#path(key)
    throwIfAborted(signal)
    try {
      await checkDirs(this.root, dirsOf(key), key, this.name)
      return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    } catch (error) {
      throw this.#readError(error, key)
    }
  }

  /** Writes and syncs `temp` with direct I/O; false when that is not possible (nothing written then). */
  async #writeDirect(temp: string, data: Uint8Array): Promise<boolean> {
    if (data.length < DIRECT_MIN || data.length > DIRECT_MAX) return false
    // Direct I/O saves a local disk's page cache; to a file server it only adds the padding's truncate
    // (which an smbnetfs mount answers after half a minute, with EIO).
    if ((await this.probe())?.remote !== false) return false
    // Found once, with a probe file beside the objects (a temp name: removeIncomplete sweeps leftovers).
    this.#direct ??= DirectFiles.open(
      join(this.root, `${TEMP_PREFIX}direct-${randomBytes(8).toString('hex')}`),
      DIRECT_MAX,
      DIRECT_SLOTS,
    )
    const direct = await this.#direct
    return direct !== undefined && direct.write(temp, data, FILE_MODE)
  }

  /** The forced mode, or the probe's verdict (the root exists: put() made it). */
  async #createMode(signal?: AbortSignal): Promise<CreateMode> {
    const traits = await this.probe({ signal })
    const mode = this.#forcedMode ?? this.#modeOf(traits)
    if (mode === undefined) {
      const message =
        `cannot create objects once in ${this.name}: its file system has neither hard links nor an ` +
        'O_EXCL that refuses an existing name'
      throw new StorageError('STORE_FAILED', message, { details: { permanent: true } })
    }
    return mode
  }

  #modeOf(traits: FileSystemTraits | undefined): CreateMode | undefined {
    if (traits === undefined) return undefined
    return traits.hardLinks ? 'link' : traits.exclusiveCreate ? 'exclusive' : undefined
  }

  /** link() fails with EEXIST if the key exists: of two racing creators exactly one wins. */
  async #linkNew(temp: string, path: string, key: string): Promise<void> {
    try {
      await link(temp, path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new StorageError('ALREADY_EXISTS', `object '${key}' already exists in ${this.name}`)
      }
      // EPERM here means "no hard links on this file system" (vfat, SMB without Unix extensions): the
      // probe found otherwise, or link was forced.
      if (NO_LINK_CODES.has(String(errorCode(error)))) {
        const message = `cannot create '${key}' in ${this.name}: the file system must support hard links`
        throw new StorageError('STORE_FAILED', message, { cause: error, details: { permanent: true } })
      }
      throw fsError(error, `cannot create '${key}' in ${this.name}`)
    }
  }

  #path(key: string): string {
    assertValidKey(key)
    if (key.split('/').some((part) => part.startsWith(TEMP_PREFIX) || part.startsWith(UNTIL_PREFIX))) {
      throw new StorageError(
        'INVALID_KEY',
        `invalid object key '${key}': '${TEMP_PREFIX}' and '${UNTIL_PREFIX}' names are reserved`,
      )
    }
    return join(this.root, ...key.split('/'))
  }

  #readError(error: unknown, key: string): StrataError {
    if (error instanceof StrataError) return error
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return symlinkRefused(key, this.name)
    if (isAbsence(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') {
      return new StorageError('NOT_FOUND', `object '${key}' not found in ${this.name}`, { cause: error })
    }
    return fsError(error, `cannot read '${key}' from ${this.name}`)
  }
}

async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx', FILE_MODE)
  try {
    await handle.chmod(FILE_MODE) // the umask may have taken bits away, or left some
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** The directory segments of a key ('chunks/ab/…' → ['chunks', 'ab']). */
function dirsOf(key: string): string[] {
  return key.split('/').slice(0, -1)
}

function isAbsence(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}
