// File-level restore over the HTTP API (docs/restore.md): a restore point disk's filesystems, a folder's
// entries a page at a time, a search by name, and files and folders downloaded as one streamed archive.
// Every input is bounded: paths as the appliance takes them (absolute, at most 4096 bytes), at most
// MAX_ARCHIVE_PATHS of them in one download.
import { Type, type Static } from '@sinclair/typebox'
import { Strict, Text } from './schema-helpers.js'

export const MAX_ARCHIVE_PATHS = 100

const Path = Text(4096, { pattern: '^/' })
/** A filesystem as libguestfs names it: /dev/sda1, /dev/vg/lv, btrfsvol:/dev/sda2/@home. */
const Device = Text(300, { pattern: '^(/dev/|btrfsvol:/dev/)[^\\u0000-\\u001f]*$' })

export const FilesParams = Strict({
  id: Text(100),
  pointId: Text(200),
  n: Type.String({ pattern: '^[0-9]{1,3}$' }),
})
export type FilesParams = Static<typeof FilesParams>

export const FilesystemView = Type.Object({
  device: Type.String(),
  type: Type.String(),
  size: Type.Optional(Type.Number()),
  label: Type.String(),
})
export const FilesystemsView = Type.Object({
  /** 'kvm', or 'tcg' where KVM is unusable (slower appliance start). */
  accelerator: Type.String(),
  filesystems: Type.Array(FilesystemView),
})
export type FilesystemsView = Static<typeof FilesystemsView>

export const FileEntryView = Type.Object({
  name: Type.String(),
  path: Type.String(),
  type: Type.String(),
  size: Type.Number(),
  mode: Type.Number(),
  mtime: Type.String(),
  target: Type.Optional(Type.String()),
})
export type FileEntryView = Static<typeof FileEntryView>

export const FilesQuery = Strict({
  fs: Type.Optional(Device),
  path: Type.Optional(Path),
  offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
})
export type FilesQuery = Static<typeof FilesQuery>

export const DirectoryView = Type.Object({
  fs: Type.String(),
  path: Type.String(),
  entries: Type.Array(FileEntryView),
  offset: Type.Number(),
  total: Type.Number(),
  nextOffset: Type.Optional(Type.Number()),
})
export type DirectoryView = Static<typeof DirectoryView>

export const FileSearchQuery = Strict({
  fs: Type.Optional(Device),
  under: Type.Optional(Path),
  q: Text(255, { minLength: 1, pattern: '^[^/]+$' }),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
})
export type FileSearchQuery = Static<typeof FileSearchQuery>

export const FileSearchView = Type.Object({
  fs: Type.String(),
  under: Type.String(),
  entries: Type.Array(FileEntryView),
  total: Type.Number(),
})
export type FileSearchView = Static<typeof FileSearchView>

export const ArchiveFormat = Type.Union([Type.Literal('zip'), Type.Literal('tar'), Type.Literal('tar.gz')])
export type ArchiveFormat = Static<typeof ArchiveFormat>

/** `path` repeats for each file or folder; one regular file without `format` comes as itself. */
export const FileDownloadQuery = Strict({
  fs: Type.Optional(Device),
  path: Type.Union([Path, Type.Array(Path, { minItems: 1, maxItems: MAX_ARCHIVE_PATHS })]),
  format: Type.Optional(ArchiveFormat),
})
export type FileDownloadQuery = Static<typeof FileDownloadQuery>
