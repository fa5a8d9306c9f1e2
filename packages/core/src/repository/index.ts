// The repository: deduplicated, compressed, optionally encrypted restore points on an ObjectStore.
// Concepts: chunks (content-addressed, create-once), fixed disk indexes (one id per chunk), manifests
// (the commit point of a restore point), sessions (running backups, seen by GC), GC, check and verify.
// The byte layout is normative in docs/repository-format.md; its constants are in format/constants.ts.
export {
  Repository,
  type CreateOptions,
  type OpenOptions,
  type KeySlotOptions,
  type KeySlotInfo,
} from './repository.js'
export { parseIdentity, type RepositoryIdentity } from './identity.js'
export { checkNewSecret, MIN_PASSPHRASE_LENGTH } from './crypto/keys.js'
export { RepositoryError, isResumable, type RepositoryErrorCode } from './errors.js'
export { PointWriter, type PointOptions, type CommittedPoint } from './point-writer.js'
export {
  MAX_POINT_FILE_BYTES,
  readFilePoint,
  readPointFile,
  writeFilePoint,
  type FilePointOptions,
  type PointFile,
} from './file-point.js'
export { DiskWriter, isZero, type DiskStats } from './disk-writer.js'
export { DiskReader } from './disk-reader.js'
export {
  listPoints,
  walkPoints,
  resolvePoint,
  readManifest,
  readDiskIndex,
  deletePoint,
  type PointSummary,
} from './points.js'
export {
  hasPointIndex,
  readPointIndex,
  revalidatePointIndex,
  type IndexedPoint,
  type ReadIndexOptions,
} from './point-index.js'
export {
  buildPointIndex,
  checkPointIndex,
  type IndexCheckResult,
  type IndexProblem,
} from './point-index-check.js'
export {
  isProtected,
  protectPoint,
  unprotectPoint,
  refuseIfProtected,
  type ProtectionRecord,
} from './protection.js'
export { DEFAULT_TIMING, type SessionTiming } from './session.js'
export { DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, ID_LENGTH } from './format/constants.js'
// The format's version numbers, for `strata --version` (each decoder accepts exactly its own).
export { REPOSITORY_FORMAT, REPOSITORY_VERSION, ENVELOPE_VERSION, INDEX_VERSION } from './format/constants.js'
export { SEAL_VERSION } from './format/seal.js'
export { formatPointRef, manifestKey, type PointRef } from './format/layout.js'
export type { DiskRole, Manifest, ManifestDisk } from './format/manifest.js'
export type { RepositoryConfig, ImmutablePolicy } from './format/config.js'
export { MAX_IMMUTABLE_SECONDS } from './format/config.js'
export {
  assertObjectLock,
  extendRetentions,
  lockedUntil,
  lockedSummary,
  isObjectLocked,
  type LockedSummary,
} from './immutability.js'
export { collectGarbage, type GcOptions, type GcResult } from './gc.js'
export {
  cleanLeftovers,
  DEFAULT_LEFTOVER_AGE_MS,
  type LeftoverOptions,
  type LeftoverResult,
} from './leftovers.js'
export { checkRepository, type CheckOptions, type CheckResult, type CheckProblem } from './check.js'
export { verifyChunks, type VerifyOptions, type VerifyProgress, type VerifyResult } from './verify.js'
export { purgeQuarantine, PREFIX_QUARANTINE } from './quarantine.js'
export { MarkSet } from './mark-set.js'
export { listChunkIds } from './chunk-list.js'
export { addTier, readTier, attachColdTier } from './tier.js'
export { moveToCold, type TierMoveOptions, type TierMoveResult } from './tier-move.js'
export { TierError, type TierErrorCode } from './tier-errors.js'
export type { TierConfig } from './format/tier.js'
export type { ColdSweepResult } from './gc-cold.js'
export type { ColdVerifyResult } from './tier-verify.js'
