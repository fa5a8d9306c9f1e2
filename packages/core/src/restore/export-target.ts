// What an export writes to (a directory, a tar, a zip) and the entries it is given: apart from
// file-export.ts so that the targets and the walk that drives them do not import each other.
import type { Readable } from 'node:stream'
import type { EntryType } from './guestfish-syntax.js'

/** One entry to write: its name in the output ('/'-separated, relative) and what it is. */
export interface ExportEntry {
  readonly name: string
  readonly type: EntryType
  readonly mode: number
  readonly mtime: Date
  readonly size: number
  /** A symbolic link's target; a hard link's earlier entry name. */
  readonly target?: string
}

/** Where entries go. `file` consumes the stream to its end before resolving. */
export interface ExportTarget {
  directory(entry: ExportEntry): Promise<void>
  file(entry: ExportEntry, data: Readable): Promise<void>
  symlink(entry: ExportEntry): Promise<void>
  /** A second name for a file written before; undefined: the target cannot, the file is written again. */
  readonly hardlink?: (entry: ExportEntry) => Promise<void>
  /** All written: archives end their stream here. */
  finish(): Promise<void>
}
