// Reading Xen Orchestra backup remotes (docs/migrate-from-xo.md; the format: xo-backups.md §2–3), on a
// local path or mount or in an object store, never writing to them. A remote lists VMs and restore
// points (each usable, or not with the reason); a point opens its disks as XoDisks: a delta chain read
// newest VHD first (VHD files and VhdDirectories, compressed, encrypted), or an XVA read front to back.
// Disks restore to files or VDIs, points to VMs.
export * from './errors.js'
export * from './remote-files.js'
export { localFiles } from './io/local-files.js'
export { writeXoDiskToFile, type DiskFileOptions } from './io/disk-file.js'
export { checkKey, KEY_LENGTH, type XoAlgorithm } from './crypto.js'
export { XoRemote, type OpenRemoteOptions } from './remote.js'
export type { XoMetadata, XoDeltaMetadata, XoFullMetadata } from './format/metadata.js'
export { MAX_CHAIN_LENGTH } from './chain.js'
export type { XoDisk, XoDiskBlock, BlocksOptions } from './disk.js'
export { openPoint, type XoRestorePoint, type XoPointSummary, type XoDiskSummary } from './point.js'
export { listRemote, type XoListing, type XoVmSummary } from './scan.js'
export { restoreXoVm, writeXoDiskToVdi, type XoVmRestoreOptions } from './restore-vm.js'
export { XoDiskSource } from './disk-source.js'
export { importTag, IMPORT_TAG_PREFIX, type ImportedMetadata } from './import-metadata.js'
export {
  importRemote,
  type XoImportOptions,
  type XoImportReport,
  type XoImportedPoint,
  type XoSkippedPoint,
} from './import.js'
