// A download of files of a restore point, wherever it is served (the server's file routes, an agent for
// its repositories): everything that can be refused is checked before the first byte (each path resolved
// in the appliance), then one regular file comes out as itself, with its length, and anything else (a
// folder, several paths, or a format asked for) as an archive made as it streams, of no known length.
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { streamArchive, type ArchiveFormat } from './file-export.js'
import type { FileRestoreSession } from './file-session.js'

export interface FileDownloadRequest {
  readonly paths: readonly string[]
  readonly fs?: string
  readonly format?: ArchiveFormat
}

export interface FileDownload {
  /** A name safe in a Content-Disposition header. */
  readonly name: string
  /** One regular file's size; undefined for an archive. */
  readonly length?: number
  /** The archive's format; undefined for one file as itself. */
  readonly format?: ArchiveFormat
  /** Writes the download into `out`; rejects if the appliance fails midway (the output is then short). */
  write(out: Writable, signal: AbortSignal): Promise<void>
}

export async function prepareDownload(
  session: FileRestoreSession,
  request: FileDownloadRequest,
  signal: AbortSignal,
): Promise<FileDownload> {
  const roots = []
  for (const path of request.paths) roots.push(await session.prepare(path, request.fs, signal))
  const single =
    roots.length === 1 && request.format === undefined && (roots[0]!.stat.mode & 0o170000) === 0o100000
  if (single) {
    const source = await session.openFile(roots[0]!.path, signal)
    return {
      name: fileName(roots[0]!.path),
      length: roots[0]!.stat.size,
      write: (out, s) => pipeline(source, out, { signal: s }),
    }
  }
  const format = request.format ?? 'zip'
  return {
    name: `${archiveBase(roots.map((r) => r.path))}.${format}`,
    format,
    write: async (out, s) => {
      await streamArchive(session, request.paths, out, format, { fs: request.fs, signal: s })
    },
  }
}

/** The last component, other bytes than letters, digits, '._ -' as '_'. */
function fileName(path: Buffer): string {
  const base = path.subarray(path.lastIndexOf(0x2f) + 1).toString('utf8')
  return base.replace(/[^A-Za-z0-9._ -]/g, '_').slice(0, 200) || 'file'
}

function archiveBase(paths: readonly Buffer[]): string {
  if (paths.length !== 1) return 'files'
  const base = fileName(paths[0]!)
  return base === 'file' && paths[0]!.length === 1 ? 'root' : base
}
