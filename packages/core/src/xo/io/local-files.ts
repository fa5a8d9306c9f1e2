// An XO remote in a local directory or a mounted NFS/SMB share. Files are opened read-only, one read at
// a time, and closed at once: a restore of a long chain holds no file open between reads. Directories
// are read one level at a time (a VhdDirectory's blocks/ is never listed), and empty ones are seen (the
// lock directories XO's proper-lockfile leaves are empty).
import { open, readdir, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { StrataError, throwIfAborted } from '../../shared/index.js'
import { XoError } from '../errors.js'
import type { RemoteEntry, RemoteFiles } from '../remote-files.js'

export function localFiles(root: string): RemoteFiles {
  return new LocalFiles(resolve(root))
}

class LocalFiles implements RemoteFiles {
  readonly name: string

  constructor(readonly root: string) {
    this.name = `local:${root}`
  }

  async readRange(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal)
    const handle = await open(this.#path(path), 'r').catch((error: unknown) => {
      throw this.#error(error, path)
    })
    try {
      // Sized to what the file holds: a bound of 32 MiB for a 2 KiB file costs nothing.
      const wanted = Math.max(0, Math.min(length, (await handle.stat()).size - offset))
      const buffer = Buffer.allocUnsafe(wanted)
      let filled = 0
      while (filled < wanted) {
        throwIfAborted(signal)
        const { bytesRead } = await handle.read(buffer, filled, wanted - filled, offset + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return buffer.subarray(0, filled)
    } catch (error) {
      throw this.#error(error, path)
    } finally {
      await handle.close()
    }
  }

  async size(path: string, signal?: AbortSignal): Promise<number | undefined> {
    throwIfAborted(signal)
    return this.#stat(path)
  }

  async entries(dir: string, signal?: AbortSignal): Promise<RemoteEntry[]> {
    throwIfAborted(signal)
    const found = await readdir(this.#path(dir), { withFileTypes: true }).catch((error: unknown) => {
      if (isAbsence(error)) return []
      throw this.#error(error, dir)
    })
    return found
      .filter((e) => e.isFile() || e.isDirectory())
      .map((e): RemoteEntry => ({ name: e.name, kind: e.isDirectory() ? 'dir' : 'file' }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async #stat(path: string): Promise<number | undefined> {
    try {
      const info = await stat(this.#path(path))
      return info.isFile() ? info.size : undefined
    } catch (error) {
      if (isAbsence(error)) return undefined
      throw this.#error(error, path)
    }
  }

  /** Paths are checked by the reader; this is the last fence: nothing outside the root. */
  #path(path: string): string {
    const full = join(this.root, ...path.split('/'))
    if (full !== this.root && !full.startsWith(this.root + sep)) {
      throw new XoError('XO_PATH_INVALID', `'${path}' lies outside the remote ${this.name}`)
    }
    return full
  }

  #error(error: unknown, path: string): unknown {
    if (error instanceof StrataError) return error
    if (isAbsence(error))
      return new XoError('XO_NOT_FOUND', `'${path}' is missing from ${this.name}`, { cause: error })
    const errno = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN'
    const transient = ['EAGAIN', 'EBUSY', 'ETIMEDOUT', 'EINTR', 'EMFILE', 'ENFILE', 'ESTALE'].includes(errno)
    return new XoError('XO_READ_FAILED', `cannot read '${path}' in ${this.name}: ${errno}`, {
      cause: error,
      retryable: transient,
      details: { errno },
    })
  }
}

function isAbsence(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR'
}
