// Files and folders of a restore point, out of the appliance: into a directory, or a .tar, .tar.gz or
// .zip archive (chosen by the output's extension). A folder comes out of the appliance as one tar stream
// (guestfish tar-out: one command, however many files; per-file commands cost a round trip each,
// ~100 ms under TCG) that is read entry by entry into the output as it arrives: no temporary copy of
// the selection. Symbolic links stay links, never followed; devices, FIFOs and sockets are skipped.
import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { finished, pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { Readable, Transform, type Writable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import { throwIfAborted } from '../shared/index.js'
import { FileRestoreError } from './errors.js'
import type { FileRestoreSession } from './file-session.js'
import { entryType, type EntryType, type GuestStat } from './guestfish-syntax.js'
import type { ExportEntry, ExportTarget } from './export-target.js'
import { DirectoryTarget } from './export-directory.js'
import { TarTarget, ZipTarget } from './export-archives.js'

export type ExportFormat = 'directory' | 'tar' | 'tar.gz' | 'zip'
export type { ExportEntry, ExportTarget } from './export-target.js'

export interface ExportProgress {
  readonly files: number
  readonly bytes: number
}

export interface ExportOptions {
  readonly fs?: string
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: ExportProgress) => void
}

export interface ExportResult {
  readonly format: ExportFormat
  readonly to: string
  readonly fs: string
  readonly files: number
  readonly directories: number
  readonly symlinks: number
  /** Devices, FIFOs and sockets: not copied. */
  readonly skipped: number
  readonly bytes: number
}

export interface Counts {
  fs: string
  files: number
  directories: number
  symlinks: number
  skipped: number
  bytes: number
}

export function exportFormat(to: string): ExportFormat {
  if (to.endsWith('.tar.gz') || to.endsWith('.tgz')) return 'tar.gz'
  if (to.endsWith('.tar')) return 'tar'
  if (to.endsWith('.zip')) return 'zip'
  return 'directory'
}

/** Writes `paths` (absolute, in one filesystem) to `to`; an archive appears under its name only once complete. */
export async function exportFiles(
  session: FileRestoreSession,
  paths: readonly string[],
  to: string,
  options: ExportOptions = {},
): Promise<ExportResult> {
  if (paths.length === 0) throw new FileRestoreError('INVALID_ARGUMENT', 'no path to restore')
  const format = exportFormat(to)
  if (format === 'directory') {
    const target = await DirectoryTarget.create(to)
    return { format, to, ...(await writeAll(session, paths, target, options)) }
  }
  const temp = `${to}.strata-${randomBytes(4).toString('hex')}.partial`
  const file = createWriteStream(temp, { flags: 'wx' })
  try {
    const counts = await streamArchive(session, paths, file, format, options)
    await rename(temp, to)
    return { format, to, ...counts }
  } catch (error) {
    file.destroy()
    await rm(temp, { force: true })
    throw error
  }
}

export type ArchiveFormat = Exclude<ExportFormat, 'directory'>

/**
 * Writes `paths` as one archive into `output` (a file, an HTTP response), entry by entry as the
 * appliance gives them: nothing of the selection is kept on the way. Resolves once `output` has it all;
 * on an error `output` is destroyed (a response cut short tells the client the archive is incomplete).
 */
export async function streamArchive(
  session: FileRestoreSession,
  paths: readonly string[],
  output: Writable,
  format: ArchiveFormat,
  options: ExportOptions = {},
): Promise<Counts> {
  if (paths.length === 0) throw new FileRestoreError('INVALID_ARGUMENT', 'no path to restore')
  const gzip = format === 'tar.gz' ? createGzip() : undefined
  const written = gzip === undefined ? finished(output) : pipeline(gzip, output)
  written.catch(() => {}) // awaited below, after finish() or on the error path
  try {
    const target = format === 'zip' ? new ZipTarget(gzip ?? output) : new TarTarget(gzip ?? output)
    const counts = await writeAll(session, paths, target, options)
    await written
    return counts
  } catch (error) {
    gzip?.destroy()
    output.destroy()
    throw error
  }
}

async function writeAll(
  session: FileRestoreSession,
  paths: readonly string[],
  target: ExportTarget,
  options: ExportOptions,
): Promise<Counts> {
  const counts: Counts = { fs: '', files: 0, directories: 0, symlinks: 0, skipped: 0, bytes: 0 }
  const names = new Set<string>()
  for (const path of paths) {
    const root = await session.prepare(path, options.fs, options.signal)
    counts.fs = root.fs
    const slash = root.path.lastIndexOf(0x2f)
    const base = root.path.length === 1 ? '' : root.path.subarray(slash + 1).toString('utf8')
    if (names.has(base))
      throw new FileRestoreError(
        'INVALID_ARGUMENT',
        `two of the paths are named '${base || '/'}': restore them one at a time`,
      )
    names.add(base)
    const entry = toExportEntry(base, root.stat, root.target)
    if (entry.type === 'directory') {
      if (base !== '') await target.directory(entry)
      counts.directories++
      await writeTree(session, root.path, base, target, counts, options)
    } else await writeOne(entry, () => session.openFile(root.path, options.signal), target, counts, options)
  }
  await target.finish()
  return counts
}

/** One entry; `open` gives a regular file's bytes. */
async function writeOne(
  entry: ExportEntry,
  open: () => Promise<Readable>,
  target: ExportTarget,
  counts: Counts,
  options: ExportOptions,
): Promise<void> {
  throwIfAborted(options.signal)
  if (entry.type === 'directory') {
    await target.directory(entry)
    counts.directories++
  } else if (entry.type === 'symlink') {
    await target.symlink(entry)
    counts.symlinks++
  } else if (entry.type === 'file') {
    // Counted on the way, without making the source flow before the target reads it.
    const source = await open()
    const data = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        counts.bytes += chunk.length
        options.onProgress?.({ files: counts.files, bytes: counts.bytes })
        callback(null, chunk)
      },
    })
    source.on('error', (error) => data.destroy(error))
    source.pipe(data)
    await target.file(entry, data)
    counts.files++
    options.onProgress?.({ files: counts.files, bytes: counts.bytes })
  } else counts.skipped++
}

/** A directory's content, from one tar-out stream, under `base` in the output. */
async function writeTree(
  session: FileRestoreSession,
  dir: Buffer,
  base: string,
  target: ExportTarget,
  counts: Counts,
  options: ExportOptions,
): Promise<void> {
  const { stream, done } = await session.openTree(dir, options.signal)
  const entries = extract()
  stream.on('error', (error) => entries.destroy(error))
  stream.pipe(entries)
  try {
    for await (const item of entries) {
      const relative = cleanName(item.header.name)
      if (relative === '') {
        item.resume() // the directory itself ("./")
        continue
      }
      const name = base === '' ? relative : `${base}/${relative}`
      const entry = fromHeader(name, item.header, base)
      if (entry.type === 'file' && item.header.type === 'link') {
        if (target.hardlink !== undefined) await target.hardlink(entry)
        else {
          // No hard links in this output: the file again, read from the appliance by its first name.
          const first = Buffer.concat([dir, Buffer.from(`/${cleanName(item.header.linkname ?? '')}`)])
          await writeOne(
            { ...entry, target: undefined },
            () => session.openFile(first, options.signal),
            target,
            counts,
            options,
          )
        }
        item.resume()
        continue
      }
      await writeOne(entry, async () => Readable.from(item), target, counts, options)
      item.resume() // whatever the target left (a skipped entry's data)
    }
    await done
  } catch (error) {
    stream.destroy()
    throw error
  }
}

/** A tar member name relative to the directory: './a/b' → 'a/b'; a name that climbs is refused. */
function cleanName(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.')
  if (parts.includes('..'))
    throw new FileRestoreError(
      'GUESTFS_ERROR',
      `the appliance's tar stream names '${name}', which climbs out`,
    )
  return parts.join('/')
}

function fromHeader(name: string, header: Header, base: string): ExportEntry {
  const types: Record<string, EntryType> = {
    file: 'file',
    'contiguous-file': 'file',
    link: 'file',
    directory: 'directory',
    symlink: 'symlink',
  }
  const linked = header.type === 'link' ? cleanName(header.linkname ?? '') : undefined
  return {
    name,
    type: types[header.type ?? 'file'] ?? 'unknown',
    mode: (header.mode ?? 0o644) & 0o7777,
    mtime: header.mtime ?? new Date(0),
    size: header.size ?? 0,
    ...(header.type === 'symlink' ? { target: header.linkname ?? '' } : {}),
    ...(linked === undefined ? {} : { target: base === '' ? linked : `${base}/${linked}` }),
  }
}

function toExportEntry(name: string, stat: GuestStat, target?: Buffer): ExportEntry {
  return {
    name,
    type: entryType(stat.mode),
    mode: stat.mode & 0o7777,
    mtime: new Date(stat.mtimeSec * 1000),
    size: stat.size,
    ...(target === undefined ? {} : { target: target.toString('utf8') }),
  }
}
