// A file-level restore session: a restore point's disk served over NBD on a private unix socket, and
// one libguestfs appliance (guestfish) reading it, kept while the user browses and stopped after an
// idle timeout. Filesystems are mounted read-only, one at a time; paths are resolved component by
// component so that a symbolic link is shown as a link and never followed.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { PointRef, Repository } from '../repository/index.js'
import { silentTask, type TaskContext } from '../shared/index.js'
import { launch } from './appliance.js'
import { FileRestoreError } from './errors.js'
import type { Guestfish } from './guestfish.js'
import { parseFilesystems, quoteArg, type GuestStat } from './guestfish-syntax.js'
import { childPath, joinPath, pathComponents, toEntry, type FileEntry } from './guest-path.js'
import { GuestTree } from './guest-tree.js'
import { servePoint, type ServedPoint } from './serve-point.js'

export interface FileRestoreOptions {
  readonly repository: Repository
  readonly ref: PointRef
  readonly disk: number
  /** Where warnings go (the appliance runs under TCG) and facts are kept. */
  readonly task?: TaskContext
  /** The session closes itself after this long without a call. Default 10 minutes. */
  readonly idleTimeoutMs?: number
  /** Time allowed for the appliance to start. Default 5 minutes (about 20 s under TCG, 3 s with KVM). */
  readonly launchTimeoutMs?: number
  /** Time allowed for one call, or without progress for a transfer. Default 2 minutes. */
  readonly callTimeoutMs?: number
  readonly signal?: AbortSignal
}

export interface FilesystemInfo {
  readonly device: string
  readonly type: string
  /** Bytes, when the device has a size of its own (a btrfs subvolume has none). */
  readonly size?: number
  readonly label: string
}

export interface DirectoryPage {
  readonly fs: string
  readonly path: string
  /** Entries in byte order of their names: `limit` of them from `offset`. */
  readonly entries: FileEntry[]
  readonly offset: number
  readonly total: number
  /** Where the next page starts; absent on the last page. */
  readonly nextOffset?: number
}

export interface ListOptions {
  readonly fs?: string
  readonly offset?: number
  /** Entries per page, at most MAX_PAGE. Default 1000. */
  readonly limit?: number
  readonly signal?: AbortSignal
}

export interface SearchOptions {
  readonly fs?: string
  /** The folder searched, with all it holds. Default '/'. */
  readonly under?: string
  /** Entries returned at most (of `total` found), at most MAX_PAGE. Default 200. */
  readonly limit?: number
  readonly signal?: AbortSignal
}

export interface SearchResult {
  readonly fs: string
  readonly under: string
  /** The first `limit` entries whose name holds the query (case-insensitive), in byte order of their paths. */
  readonly entries: FileEntry[]
  readonly total: number
}

export const MAX_PAGE = 10_000
export const MAX_QUERY = 255

export class FileRestoreSession {
  readonly accelerator: 'kvm' | 'tcg'
  readonly #served: ServedPoint
  readonly #guestfish: Guestfish
  readonly #workDir: string
  readonly #idleMs: number
  #idleTimer: NodeJS.Timeout | undefined
  #busy = 0
  #filesystems: Promise<FilesystemInfo[]> | undefined
  #mounted: string | undefined
  readonly #tree: GuestTree
  #closing: Promise<void> | undefined

  private constructor(
    served: ServedPoint,
    guestfish: Guestfish,
    workDir: string,
    accel: 'kvm' | 'tcg',
    idleMs: number,
  ) {
    this.#served = served
    this.#guestfish = guestfish
    this.#tree = new GuestTree(guestfish)
    this.#workDir = workDir
    this.accelerator = accel
    this.#idleMs = idleMs
    this.#armIdle()
  }

  static async open(options: FileRestoreOptions): Promise<FileRestoreSession> {
    const task = options.task ?? silentTask(options.signal)
    const workDir = await mkdtemp(join(tmpdir(), 'strata-files-'))
    let served: ServedPoint | undefined
    try {
      const socket = join(workDir, 'nbd.sock')
      served = await servePoint({ ...options, exportName: 'disk', listen: { path: socket } })
      const { guestfish, accel } = await launch(workDir, socket, options, task)
      task.set({ accelerator: accel, disk: served.diskName, size: served.size })
      return new FileRestoreSession(served, guestfish, workDir, accel, options.idleTimeoutMs ?? 600_000)
    } catch (error) {
      await served?.close()
      await rm(workDir, { recursive: true, force: true })
      throw error
    }
  }

  /** The guestfish process (for tests that check nothing is left behind). */
  get pid(): number | undefined {
    return this.#guestfish.pid
  }

  get closed(): boolean {
    return this.#closing !== undefined || this.#guestfish.failed
  }

  /** The disk's filesystems: device, type, size and label (LVM volumes included). */
  filesystems(signal?: AbortSignal): Promise<FilesystemInfo[]> {
    return this.#use(() => this.#listFilesystems(signal))
  }

  /** One page of a directory's entries, or the entry itself for anything else. */
  list(path: string, options: ListOptions = {}): Promise<DirectoryPage> {
    return this.#use(async () => {
      const { signal } = options
      const limit = options.limit ?? 1000
      const offset = options.offset ?? 0
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
        throw new FileRestoreError('INVALID_ARGUMENT', `a page holds 1 to ${MAX_PAGE} entries, not ${limit}`)
      if (!Number.isInteger(offset) || offset < 0)
        throw new FileRestoreError('INVALID_ARGUMENT', `offset ${offset} is not a count`)
      const fs = await this.#mount(options.fs, signal)
      const components = pathComponents(path)
      const target = joinPath(components)
      const stat = await this.#tree.resolve(components, signal)
      if ((stat.mode & 0o170000) !== 0o040000) {
        // Not a directory: the entry itself (a link as a link), as `ls FILE` shows it.
        const parent = joinPath(components.slice(0, -1))
        const entries = await this.#tree.entries(parent, components.slice(-1), signal)
        return { fs, path: target.toString('utf8'), entries, offset: 0, total: 1 }
      }
      const names = await this.#tree.names(fs, target, signal)
      const page = names.slice(offset, offset + limit)
      const entries = await this.#tree.entries(target, page, signal)
      const next = offset + page.length
      return {
        fs,
        path: target.toString('utf8'),
        entries,
        offset,
        total: names.length,
        ...(next < names.length ? { nextOffset: next } : {}),
      }
    })
  }

  /** Entries under a folder, at any depth, whose name holds `query` (case-insensitive). */
  search(query: string, options: SearchOptions = {}): Promise<SearchResult> {
    return this.#use(async () => {
      const { signal } = options
      const limit = options.limit ?? 200
      if (query.length < 1 || query.length > MAX_QUERY || query.includes('/') || query.includes('\0'))
        throw new FileRestoreError('INVALID_ARGUMENT', `a search is 1 to ${MAX_QUERY} characters of a name`)
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
        throw new FileRestoreError(
          'INVALID_ARGUMENT',
          `a search returns 1 to ${MAX_PAGE} entries, not ${limit}`,
        )
      const fs = await this.#mount(options.fs, signal)
      const components = pathComponents(options.under ?? '/')
      const under = joinPath(components)
      if (((await this.#tree.resolve(components, signal)).mode & 0o170000) !== 0o040000)
        throw new FileRestoreError('PATH_NOT_FOUND', `'${under.toString('utf8')}' is not a directory`)
      const needle = query.toLowerCase()
      const found = (await this.#tree.walk(under, signal))
        .filter((relative) => baseName(relative).toString('utf8').toLowerCase().includes(needle))
        .map((relative) => childPath(under, relative))
        .sort(Buffer.compare)
      const entries: FileEntry[] = []
      for (const [dir, names] of byParent(found.slice(0, limit)))
        entries.push(...(await this.#tree.entries(Buffer.from(dir, 'hex'), names, signal)))
      entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
      return { fs, under: under.toString('utf8'), entries, total: found.length }
    })
  }

  /** The entry at `path` (a link is reported as a link). */
  stat(path: string, fs?: string, signal?: AbortSignal): Promise<FileEntry> {
    return this.#use(async () => {
      await this.#mount(fs, signal)
      const components = pathComponents(path)
      return toEntry(joinPath(components), await this.#tree.resolve(components, signal), undefined)
    })
  }

  /** Mounts `fs` (or the only one) and resolves `path` without following links: for a walk. */
  prepare(
    path: string,
    fs?: string,
    signal?: AbortSignal,
  ): Promise<{ fs: string; path: Buffer; stat: GuestStat; target?: Buffer }> {
    return this.#use(async () => {
      const mounted = await this.#mount(fs, signal)
      const components = pathComponents(path)
      const full = joinPath(components)
      const stat = await this.#tree.resolve(components, signal)
      const target = (stat.mode & 0o170000) === 0o120000 ? await this.#tree.readlink(full, signal) : undefined
      return { fs: mounted, path: full, stat, target }
    })
  }

  /** A regular file's bytes, streamed from the appliance (the stream fails if the read fails). */
  async openFile(path: Buffer, signal?: AbortSignal): Promise<Readable> {
    return (await this.#transfer('download', [quoteArg(path)], signal)).stream
  }

  /** A directory's whole tree as one tar stream (links as links, numeric owners); `done` says it all came. */
  openTree(dir: Buffer, signal?: AbortSignal): Promise<{ stream: Readable; done: Promise<void> }> {
    return this.#transfer('tar-out', [quoteArg(dir)], signal, [quoteArg('numericowner:true')])
  }

  /** Stops the appliance and the NBD server, removes the session's files. Idempotent. */
  close(): Promise<void> {
    clearTimeout(this.#idleTimer)
    this.#closing ??= (async () => {
      await this.#guestfish.close()
      await this.#served.close()
      await rm(this.#workDir, { recursive: true, force: true })
    })()
    return this.#closing
  }

  /** A command writing to a file, streamed; the session counts as busy (no idle close) until it is done. */
  async #transfer(
    name: string,
    args: readonly string[],
    signal?: AbortSignal,
    after: readonly string[] = [],
  ): Promise<{ stream: Readable; done: Promise<void> }> {
    if (this.#closing !== undefined)
      throw new FileRestoreError('SESSION_CLOSED', 'the file restore session is closed')
    this.#busy++
    clearTimeout(this.#idleTimer)
    const idle = (): void => {
      if (--this.#busy === 0) this.#armIdle()
    }
    try {
      const transfer = await this.#guestfish.output(name, (fifo) => [...args, quoteArg(fifo), ...after], {
        signal,
      })
      transfer.done.then(idle, idle)
      return transfer
    } catch (error) {
      idle()
      throw error
    }
  }

  async #use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined)
      throw new FileRestoreError('SESSION_CLOSED', 'the file restore session is closed')
    this.#busy++
    clearTimeout(this.#idleTimer)
    try {
      return await fn()
    } finally {
      if (--this.#busy === 0) this.#armIdle()
    }
  }

  #armIdle(): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => void this.close(), this.#idleMs)
    this.#idleTimer.unref()
  }

  #listFilesystems(signal?: AbortSignal): Promise<FilesystemInfo[]> {
    this.#filesystems ??= (async () => {
      const found = parseFilesystems(
        (await this.#guestfish.call('list-filesystems', [], { signal })).toString('utf8'),
      )
      const known = found.filter((f) => f.type !== 'unknown')
      if (known.length === 0)
        throw new FileRestoreError(
          'NO_FILESYSTEM',
          `disk ${this.#served.diskName} of ${this.#served.point} holds no filesystem that libguestfs recognises`,
        )
      return Promise.all(
        known.map(async ({ device, type }) => {
          const label = await this.#guestfish
            .call('vfs-label', [quoteArg(device)], { signal })
            .catch(() => Buffer.alloc(0))
          const size = await this.#guestfish
            .call('blockdev-getsize64', [quoteArg(device)], { signal })
            .catch(() => undefined)
          return {
            device,
            type,
            label: label.toString('utf8').replace(/\n$/, ''),
            ...(size === undefined ? {} : { size: Number(size.toString().trim()) }),
          }
        }),
      )
    })()
    this.#filesystems.catch(() => (this.#filesystems = undefined))
    return this.#filesystems
  }

  /** Mounts the filesystem asked for (or the only one there is) read-only at '/'; returns its device. */
  async #mount(fs: string | undefined, signal?: AbortSignal): Promise<string> {
    const all = await this.#listFilesystems(signal)
    const browsable = all.filter((f) => f.type !== 'swap')
    let device = fs
    if (device === undefined) {
      if (browsable.length !== 1)
        throw new FileRestoreError(
          'FILESYSTEM_AMBIGUOUS',
          `disk ${this.#served.diskName} holds ${browsable.length} filesystems: choose one with --fs (${browsable.map((f) => f.device).join(', ')})`,
        )
      device = browsable[0]!.device
    } else if (!all.some((f) => f.device === device)) {
      throw new FileRestoreError(
        'FILESYSTEM_NOT_FOUND',
        `disk ${this.#served.diskName} has no filesystem '${device}' (it has ${all.map((f) => f.device).join(', ')})`,
      )
    }
    if (this.#mounted === device) return device
    await this.#guestfish.call('umount-all', [], { signal })
    this.#mounted = undefined
    this.#tree.forget()
    try {
      await this.#guestfish.call('mount-ro', [quoteArg(device), quoteArg('/')], { signal })
    } catch (error) {
      throw new FileRestoreError(
        'FILESYSTEM_UNREADABLE',
        `filesystem ${device} cannot be mounted: ${(error as Error).message}`,
        { cause: error },
      )
    }
    this.#mounted = device
    return device
  }
}

function baseName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1)
}

/** Absolute paths grouped by their parent folder (hex of its bytes): one stat batch per folder. */
function byParent(paths: readonly Buffer[]): Map<string, Buffer[]> {
  const groups = new Map<string, Buffer[]>()
  for (const path of paths) {
    const slash = path.lastIndexOf(0x2f)
    const dir = (slash === 0 ? Buffer.from('/') : path.subarray(0, slash)).toString('hex')
    const names = groups.get(dir) ?? []
    names.push(path.subarray(slash + 1))
    groups.set(dir, names)
  }
  return groups
}
