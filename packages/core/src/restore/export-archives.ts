// Restored entries as a stream of a tar (tar-stream, POSIX ustar with pax headers for long names) or a
// zip (yazl, streamed: sizes and CRCs follow each file's data). Symbolic links are stored as links.
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { pack, type Pack } from 'tar-stream'
import { ZipFile } from 'yazl'
import type { ExportEntry, ExportTarget } from './export-target.js'

export class TarTarget implements ExportTarget {
  readonly #pack: Pack
  readonly #done: Promise<void>

  constructor(output: Writable) {
    this.#pack = pack()
    this.#done = pipeline(this.#pack, output)
    this.#done.catch(() => {}) // awaited by finish(); the caller sees the output's failure too
  }

  directory(entry: ExportEntry): Promise<void> {
    return this.#add({ ...header(entry), type: 'directory' })
  }

  async file(entry: ExportEntry, data: Readable): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const sink = this.#pack.entry({ ...header(entry), type: 'file', size: entry.size }, (error) =>
        error ? reject(error) : resolve(),
      )
      data.on('error', (error) => {
        sink.destroy(error)
        reject(error)
      })
      data.pipe(sink)
    })
  }

  symlink(entry: ExportEntry): Promise<void> {
    return this.#add({ ...header(entry), type: 'symlink', linkname: entry.target ?? '' })
  }

  readonly hardlink = (entry: ExportEntry): Promise<void> =>
    this.#add({ ...header(entry), type: 'link', linkname: entry.target ?? '' })

  async finish(): Promise<void> {
    this.#pack.finalize()
    await this.#done
  }

  #add(headers: Parameters<Pack['entry']>[0]): Promise<void> {
    return new Promise((resolve, reject) => this.#pack.entry(headers, (e) => (e ? reject(e) : resolve())))
  }
}

function header(entry: ExportEntry) {
  return { name: entry.name, mode: entry.mode, mtime: entry.mtime }
}

export class ZipTarget implements ExportTarget {
  readonly #zip = new ZipFile()
  readonly #done: Promise<void>
  /** Rejects when yazl reports an error (a stream of the wrong size, say): every wait races it. */
  readonly #failure: Promise<never>

  constructor(output: Writable) {
    this.#done = pipeline(this.#zip.outputStream, output)
    this.#done.catch(() => {})
    this.#failure = new Promise((_, reject) => this.#zip.once('error', reject))
    this.#failure.catch(() => {})
  }

  async directory(entry: ExportEntry): Promise<void> {
    this.#zip.addEmptyDirectory(entry.name, { mtime: entry.mtime, mode: 0o040000 | entry.mode })
  }

  /** yazl reads each stream when its turn comes; this waits until it has, so that files go one by one. */
  async file(entry: ExportEntry, data: Readable): Promise<void> {
    const consumed = new Promise<void>((resolve, reject) => {
      data.once('end', resolve)
      data.once('error', reject)
    })
    this.#zip.addReadStream(data, entry.name, {
      mtime: entry.mtime,
      mode: 0o100000 | entry.mode,
      size: entry.size,
    })
    await Promise.race([consumed, this.#failure])
  }

  async symlink(entry: ExportEntry): Promise<void> {
    this.#zip.addBuffer(Buffer.from(entry.target ?? ''), entry.name, {
      mtime: entry.mtime,
      mode: 0o120777,
      compress: false,
    })
  }

  async finish(): Promise<void> {
    this.#zip.end()
    await Promise.race([this.#done, this.#failure])
  }
}
