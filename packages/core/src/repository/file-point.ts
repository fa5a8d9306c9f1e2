// Restore points that hold files instead of disks (metadata backups: a pool's database dump, a server's
// configuration). Each file is a "disk" of the file's exact length with the role 'file', so that chunks,
// indexes and the manifest are those of any point: check, verify, gc, retention, protection and mirrors
// need nothing new. Files are small (a pool database is a few MiB) and read whole into memory.
import { createHash } from 'node:crypto'
import { throwIfAborted } from '../shared/index.js'
import { DiskReader } from './disk-reader.js'
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { PointWriter, type CommittedPoint, type PointOptions } from './point-writer.js'
import { readDiskIndex, readManifest } from './points.js'
import { formatPointRef, type PointRef } from './format/layout.js'
import type { Manifest } from './format/manifest.js'

/** The largest file a point holds: far above a pool database, far below what memory allows. */
export const MAX_POINT_FILE_BYTES = 256 * 1024 * 1024

export interface PointFile {
  readonly name: string
  readonly data: Uint8Array
}

export interface FilePointOptions extends Omit<PointOptions, 'base' | 'copyOf'> {
  readonly files: readonly PointFile[]
}

/** What a file point's manifest says of its files (its `vm.metadata.files`), checked on read. */
interface FileEntry {
  readonly name: string
  readonly size: number
  readonly sha256: string
}

export async function writeFilePoint(repo: Repository, o: FilePointOptions): Promise<CommittedPoint> {
  const names = new Set<string>()
  for (const file of o.files) {
    if (file.name === '' || names.has(file.name) || file.data.length > MAX_POINT_FILE_BYTES)
      throw new RepositoryError('INVALID_ARGUMENT', `file '${file.name}' cannot be stored in a point`)
    names.add(file.name)
  }
  const files: FileEntry[] = o.files.map((f) => ({
    name: f.name,
    size: f.data.length,
    sha256: createHash('sha256').update(f.data).digest('hex'),
  }))
  const metadata = { ...(isRecord(o.metadata) ? o.metadata : {}), files }
  const point = await PointWriter.begin(repo, { ...o, metadata })
  try {
    for (const file of o.files) {
      const disk = point.openDisk(file.name, file.data.length, undefined, 'file')
      for (let i = 0; i * repo.chunkSize < file.data.length; i++) {
        const at = i * repo.chunkSize
        await disk.putChunk(i, file.data.subarray(at, at + disk.chunkLength(i)), o.signal)
      }
    }
    return await point.commit({ full: true })
  } catch (error) {
    await point.abort()
    throw error
  }
}

/** The manifest of a file point, and what its writer said of it (`metadata`, without `files`). */
export async function readFilePoint(
  repo: Repository,
  ref: PointRef,
  signal?: AbortSignal,
): Promise<{ manifest: Manifest; metadata: Record<string, unknown>; files: readonly FileEntry[] }> {
  const manifest = await readManifest(repo, ref, signal)
  const what = `restore point '${formatPointRef(ref)}' in repository '${repo.name}'`
  if (manifest.disks.length > 0 && manifest.disks.some((d) => d.role !== 'file'))
    throw new RepositoryError('NOT_A_FILE_POINT', `${what} holds disks, not files`)
  const { files, ...metadata } = isRecord(manifest.vm.metadata) ? manifest.vm.metadata : {}
  if (!Array.isArray(files) || files.length !== manifest.disks.length || !files.every(isFileEntry))
    throw new RepositoryError('CORRUPT_OBJECT', `${what}: its list of files does not match its manifest`)
  return { manifest, metadata, files }
}

/** One file of a file point, whole, checked against the checksum its manifest recorded. */
export async function readPointFile(
  repo: Repository,
  ref: PointRef,
  name: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const { manifest, files } = await readFilePoint(repo, ref, signal)
  const n = files.findIndex((f) => f.name === name)
  const what = `file '${name}' of restore point '${formatPointRef(ref)}' in repository '${repo.name}'`
  if (n < 0) throw new RepositoryError('POINT_FILE_NOT_FOUND', `there is no ${what}`)
  const entry = manifest.disks[n]!
  if (entry.size !== files[n]!.size || entry.size > MAX_POINT_FILE_BYTES)
    throw new RepositoryError('CORRUPT_OBJECT', `${what}: its size does not match its manifest`)
  const out = new Uint8Array(entry.size)
  try {
    using reader = new DiskReader(repo, entry.name, await readDiskIndex(repo, entry.index, signal))
    for (let i = 0; i < reader.chunkCount; i++) {
      throwIfAborted(signal)
      out.set(await reader.readChunk(i, signal), i * reader.chunkSize)
    }
  } catch (error) {
    if (!(error instanceof RepositoryError) || error.code !== 'CORRUPT_OBJECT') throw error
    throw new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: ${error.message}`, { cause: error })
  }
  if (createHash('sha256').update(out).digest('hex') !== files[n]!.sha256)
    throw new RepositoryError('CORRUPT_OBJECT', `${what} does not match its checksum`)
  return out
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isFileEntry(value: unknown): value is FileEntry {
  return (
    isRecord(value) &&
    typeof value.name === 'string' &&
    Number.isSafeInteger(value.size) &&
    typeof value.sha256 === 'string'
  )
}
