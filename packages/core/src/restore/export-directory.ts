// Restored entries written into a directory of the host: created, never overwritten (O_EXCL), never
// through a link (O_NOFOLLOW; every parent is a directory this restore made). Modes keep their
// permission bits but not setuid/setgid; directories get theirs and their times once filled.
import { constants } from 'node:fs'
import { chmod, link, lutimes, mkdir, open, readdir, symlink, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { writeFully } from '../shared/index.js'
import { FileRestoreError } from './errors.js'
import type { ExportEntry, ExportTarget } from './export-target.js'

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

export class DirectoryTarget implements ExportTarget {
  /** Directories made, to receive their mode and times last (children change a directory's mtime). */
  readonly #directories: { path: string; entry: ExportEntry }[] = []

  private constructor(readonly root: string) {}

  /** The root must not exist, or be an empty directory. */
  static async create(root: string): Promise<DirectoryTarget> {
    try {
      await mkdir(root, { mode: 0o700 })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const inside = await readdir(root).catch(() => undefined)
      if (inside === undefined || inside.length > 0)
        throw new FileRestoreError('OUTPUT_EXISTS', `'${root}' exists and is not an empty directory`)
    }
    return new DirectoryTarget(root)
  }

  async directory(entry: ExportEntry): Promise<void> {
    const path = this.#path(entry)
    await exclusive(path, () => mkdir(path, { mode: 0o700 }))
    this.#directories.push({ path, entry })
  }

  async file(entry: ExportEntry, data: Readable): Promise<void> {
    const path = this.#path(entry)
    const handle = await exclusive(path, () => open(path, CREATE, 0o600))
    try {
      // Written by hand: a write stream on a handle it must not close never reports that it is done.
      let position = 0
      for await (const chunk of data as AsyncIterable<Buffer>) {
        await writeFully(handle, chunk, position)
        position += chunk.length
      }
      await handle.chmod(entry.mode & 0o777)
      await handle.utimes(entry.mtime, entry.mtime)
    } finally {
      await handle.close()
    }
  }

  async symlink(entry: ExportEntry): Promise<void> {
    const path = this.#path(entry)
    await exclusive(path, () => symlink(entry.target ?? '', path))
    await lutimes(path, entry.mtime, entry.mtime)
  }

  readonly hardlink = async (entry: ExportEntry): Promise<void> => {
    const path = this.#path(entry)
    // link() does not follow a link at the first name: it stays inside the restored tree.
    await exclusive(path, () => link(join(this.root, ...(entry.target ?? '').split('/')), path))
  }

  async finish(): Promise<void> {
    for (const { path, entry } of this.#directories.reverse()) {
      await chmod(path, (entry.mode & 0o777) | 0o700) // the owner keeps access to what was restored
      await utimes(path, entry.mtime, entry.mtime)
    }
  }

  #path(entry: ExportEntry): string {
    return join(this.root, ...entry.name.split('/'))
  }
}

async function exclusive<T>(path: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new FileRestoreError('OUTPUT_EXISTS', `'${path}' already exists (two entries share a name?)`, {
        cause: error,
      })
    throw error
  }
}
