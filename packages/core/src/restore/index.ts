// Restores beyond whole disks: a restore point's disk served over NBD straight from the repository
// (read-only, or writable through a copy-on-write overlay in memory), and file-level restore through
// libguestfs over that export, with one appliance per browsing session; differential restores onto an
// existing VDI.
export { PointBlockSource, type PointSourceOptions } from './point-source.js'
export { servePoint, type ServePointOptions, type ServedPoint } from './serve-point.js'
export { FileRestoreError, type FileRestoreErrorCode } from './errors.js'
export {
  FileRestoreSession,
  MAX_PAGE,
  MAX_QUERY,
  type DirectoryPage,
  type FileRestoreOptions,
  type FilesystemInfo,
  type ListOptions,
  type SearchOptions,
  type SearchResult,
} from './file-session.js'
export type { FileEntry } from './guest-path.js'
export type { EntryType } from './guestfish-syntax.js'
export { prepareDownload, type FileDownload, type FileDownloadRequest } from './file-download.js'
export {
  exportFiles,
  exportFormat,
  streamArchive,
  type ArchiveFormat,
  type ExportFormat,
  type ExportOptions,
  type ExportProgress,
  type ExportResult,
} from './file-export.js'
export { chooseAccelerator, type Accelerator } from './accelerator.js'
export {
  DifferentialRestoreError,
  differentialVhdBytes,
  findDifferences,
  planDifferentialVhd,
  type CompareOptions,
  type CurrentDisk,
  type Differences,
  type DifferentialRestoreErrorCode,
} from './differential.js'
export {
  restoreDiskDifferential,
  type DifferentialRestoreOptions,
  type DifferentialRestoreResult,
} from './differential-vdi.js'
export {
  findInPlaceTarget,
  restoreVmDifferential,
  type InPlaceTarget,
  type VmDifferentialOptions,
} from './differential-vm.js'
