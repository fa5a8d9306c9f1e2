// Reading a mounted guest filesystem through guestfish: paths resolved component by component (a link
// is reported, never followed), directory names as raw bytes through ls0, stats and link targets in
// batches (lstatnslist, readlinklist): one appliance round trip per batch, not per entry.
import { FileRestoreError } from './errors.js'
import type { Guestfish } from './guestfish.js'
import {
  parseStat,
  parseStatList,
  quoteArg,
  quoteList,
  splitNul,
  type GuestStat,
} from './guestfish-syntax.js'
import { childPath, joinPath, toEntry, type FileEntry } from './guest-path.js'

/** The names of one directory, as bytes: a listing larger than this is refused, not read on. */
const MAX_LISTING_BYTES = 64 * 1024 * 1024
/** Names per lstatnslist call. */
export const STAT_BATCH = 256

export class GuestTree {
  /** The last directory listed, kept for the pages that follow (forgotten when another fs is mounted). */
  #lastListing: { key: string; names: Buffer[] } | undefined

  constructor(readonly guestfish: Guestfish) {}

  forget(): void {
    this.#lastListing = undefined
  }

  /** The stat of the path's last component; every component before it must be a directory, not a link. */
  async resolve(components: readonly Buffer[], signal?: AbortSignal): Promise<GuestStat> {
    const prefixes = [Buffer.from('/'), ...components.map((_, i) => joinPath(components.slice(0, i + 1)))]
    // All asked at once (guestfish runs them in turn): one wait for the appliance, not one per level.
    const stats = await Promise.allSettled(prefixes.map((p) => this.lstat(p, signal)))
    for (let i = 0; i < stats.length; i++) {
      const result = stats[i]!
      if (result.status === 'rejected') throw result.reason
      if (i === stats.length - 1) return result.value
      const type = result.value.mode & 0o170000
      if (type === 0o120000)
        throw new FileRestoreError(
          'SYMLINK_NOT_FOLLOWED',
          `'${prefixes[i]!.toString('utf8')}' is a symbolic link: links are shown and copied as links, never followed`,
        )
      if (type !== 0o040000)
        throw new FileRestoreError('PATH_NOT_FOUND', `'${prefixes[i]!.toString('utf8')}' is not a directory`)
    }
    throw new Error('unreachable')
  }

  async lstat(path: Buffer, signal?: AbortSignal): Promise<GuestStat> {
    try {
      return parseStat((await this.guestfish.call('lstatns', [quoteArg(path)], { signal })).toString('utf8'))
    } catch (error) {
      throw pathError(error, path)
    }
  }

  /** A directory's names, sorted by bytes; the last listing is kept for the pages that follow. */
  async names(fs: string, dir: Buffer, signal?: AbortSignal): Promise<Buffer[]> {
    const key = `${fs}\0${dir.toString('hex')}`
    if (this.#lastListing?.key === key) return this.#lastListing.names
    const names = (await this.#nulList('ls0', dir, signal)).sort(Buffer.compare)
    this.#lastListing = { key, names }
    return names
  }

  /** Every path under `dir`, relative to it (find0), in the order the filesystem gives them. */
  walk(dir: Buffer, signal?: AbortSignal): Promise<Buffer[]> {
    return this.#nulList('find0', dir, signal)
  }

  /** A command's NUL-separated answer about `dir`, refused past MAX_LISTING_BYTES rather than read on. */
  async #nulList(command: string, dir: Buffer, signal?: AbortSignal): Promise<Buffer[]> {
    const { stream, done } = await this.guestfish.output(command, (fifo) => [quoteArg(dir), quoteArg(fifo)], {
      signal,
    })
    const parts: Buffer[] = []
    let bytes = 0
    try {
      for await (const data of stream as AsyncIterable<Buffer>) {
        bytes += data.length
        if (bytes > MAX_LISTING_BYTES)
          throw new FileRestoreError(
            'DIRECTORY_TOO_LARGE',
            `'${dir.toString('utf8')}' lists more than ${MAX_LISTING_BYTES} bytes of names (${command})`,
          )
        parts.push(data)
      }
      await done
    } catch (error) {
      stream.destroy()
      throw pathError(error, dir)
    }
    return splitNul(Buffer.concat(parts))
  }

  async entries(dir: Buffer, names: readonly Buffer[], signal?: AbortSignal): Promise<FileEntry[]> {
    const out: FileEntry[] = []
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      const batch = names.slice(i, i + STAT_BATCH)
      const stats = await this.statBatch(dir, batch, signal)
      const targets = await this.linkTargets(dir, batch, stats, signal)
      batch.forEach((name, j) => out.push(toEntry(childPath(dir, name), stats[j]!, targets.get(j))))
    }
    return out
  }

  async statBatch(dir: Buffer, names: readonly Buffer[], signal?: AbortSignal): Promise<GuestStat[]> {
    if (names.length === 0) return []
    const text = (
      await this.guestfish.call('lstatnslist', [quoteArg(dir), quoteList(names)], { signal })
    ).toString('utf8')
    const stats = parseStatList(text)
    if (stats.length !== names.length)
      throw new FileRestoreError(
        'GUESTFS_ERROR',
        `lstatnslist of '${dir.toString('utf8')}' answered ${stats.length} entries for ${names.length} names`,
      )
    return stats
  }

  /** Link targets of the symbolic links in a batch, by index (one per line: a target with a newline is left out). */
  async linkTargets(
    dir: Buffer,
    names: readonly Buffer[],
    stats: readonly GuestStat[],
    signal?: AbortSignal,
  ): Promise<Map<number, Buffer>> {
    const links = stats.flatMap((s, i) => ((s.mode & 0o170000) === 0o120000 ? [i] : []))
    const out = new Map<number, Buffer>()
    if (links.length === 0) return out
    const text = await this.guestfish.call(
      'readlinklist',
      [quoteArg(dir), quoteList(links.map((i) => names[i]!))],
      { signal },
    )
    const lines = splitLines(text)
    if (lines.length === links.length) links.forEach((index, j) => out.set(index, lines[j]!))
    else for (const index of links) out.set(index, await this.readlink(childPath(dir, names[index]!), signal))
    return out
  }

  async readlink(path: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const text = await this.guestfish.call('readlink', [quoteArg(path)], { signal })
    return text.subarray(0, text.length > 0 && text[text.length - 1] === 0x0a ? -1 : undefined)
  }
}

function pathError(error: unknown, path: Buffer): unknown {
  if (
    error instanceof FileRestoreError &&
    error.code === 'GUESTFS_ERROR' &&
    /No such file or directory|Not a directory/.test(error.message)
  )
    return new FileRestoreError(
      'PATH_NOT_FOUND',
      `'${path.toString('utf8')}' does not exist in the filesystem`,
      { cause: error },
    )
  return error
}

function splitLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = []
  for (let start = 0; start < text.length;) {
    let end = text.indexOf(0x0a, start)
    if (end === -1) end = text.length
    lines.push(text.subarray(start, end))
    start = end + 1
  }
  return lines
}
