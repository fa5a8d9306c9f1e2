// The object-store interface: the only thing the repository knows about where its bytes live.
// Keys are '/'-separated relative paths ('chunks/3f/3fa2…'). Objects are written whole and, by the
// repository's rules, created once and never modified.

export interface ObjectInfo {
  readonly key: string
  readonly size: number
  readonly modified?: Date
}

/** What an interrupted put left behind: a local temp file, an unfinished S3 multipart upload. */
export interface Leftover {
  /** The temp file's path in the store, or `key (upload <id>)` for S3: for messages, not a key. */
  readonly name: string
  /** Bytes it holds, where the store knows without another request. */
  readonly size?: number
  /** When its writer started it (last modified, for a file). */
  readonly started: Date
}

export interface StoreCapabilities {
  /** `put(..., { ifNoneMatch: true })` is atomic on the server: two racing creators cannot both win. */
  readonly conditionalCreate: boolean
  /** Listing sees every completed put at once (S3 and local directories do; some gateways do not). */
  readonly listAfterWriteConsistent: boolean
  /** A put's `sha256` is used (S3): callers that can hash off their thread should give it. */
  readonly takesSha256?: boolean
  /** How a local store makes create-only puts atomic, once known (`strata repo info` shows it). */
  readonly createMode?: CreateMode
  /** What a local store's probe found of the file system under it, once probed. */
  readonly fileSystem?: FileSystemTraits
}

/**
 * 'link': the complete temp file is hard-linked to the key (the link fails if the key exists).
 * 'exclusive': for file systems without hard links (SMB shares): an O_EXCL claim names the one creator,
 * which renames its complete temp file to the key (local-claim.ts, docs/storage.md).
 */
export type CreateMode = 'link' | 'exclusive'

/** Found by a probe file under a local store's root when it opens. */
export interface FileSystemTraits {
  /** From statfs(2): 'ext4', 'xfs', 'btrfs', 'zfs', 'tmpfs', 'nfs', 'cifs', 'smb2', 'fuse', or its magic in hex. */
  readonly type: string
  /** A file server or a user-space daemon behind it (NFS, SMB, FUSE): written through the page cache. */
  readonly remote: boolean
  /** Names that differ only in case are different files (an SMB share is usually case-insensitive). */
  readonly caseSensitive: boolean
  /** link() works. */
  readonly hardLinks: boolean
  /** open() with O_EXCL refuses a name that exists. */
  readonly exclusiveCreate: boolean
  /** The finest step of the modification times it keeps (1 ms or more; 0.001 for 1 µs or finer). */
  readonly timestampResolutionMs?: number
  /** How far the file server's clock (the times it gives new files) is ahead of ours (negative: behind). */
  readonly clockSkewMs?: number
}

export interface CallOptions {
  readonly signal?: AbortSignal
  /**
   * Wall-clock instant (ms since the epoch) after which no attempt of this call may start: a retry or a
   * request still waiting for a slot fails with DEADLINE_PASSED instead. Timers cannot promise this (a
   * paused process runs late ones in any order); the clock is read right before each attempt.
   */
  readonly notAfter?: number
}

export interface ListOptions extends CallOptions {
  /**
   * Only the keys are wanted: a store may skip what costs it a call per object (a local store's stat of
   * each file); `size` is then 0 and `modified` absent. Stores that list sizes anyway (S3) ignore it.
   */
  readonly keysOnly?: boolean
}

export interface RangeOptions extends CallOptions {
  /**
   * Memory to read the bytes into (used only if it holds at least `length` bytes): the result is then
   * a view of it, and no buffer is made per read. A store may ignore it and return a buffer of its own.
   */
  readonly into?: Uint8Array
}

export interface PutOptions extends CallOptions {
  /** Create only: fail with ALREADY_EXISTS (StorageError) if the key exists. */
  readonly ifNoneMatch?: boolean
  /**
   * SHA-256 of `data` in lowercase hex, computed elsewhere (a worker thread that had the bytes at hand):
   * a store that sends one (S3: the signed payload hash, which the server checks against the body)
   * takes it instead of hashing on its caller's thread. It must be that of `data`: the server refuses
   * the put otherwise.
   */
  readonly sha256?: string
  /** Object Lock retention to create the object with (stores whose `objectLock` is enabled only). */
  readonly retain?: Retention
}

export type LockMode = 'GOVERNANCE' | 'COMPLIANCE'

export interface Retention {
  readonly mode: LockMode
  /** Nobody (COMPLIANCE), or nobody without the bypass permission (GOVERNANCE), deletes it before this. */
  readonly until: Date
}

/**
 * Object Lock (S3): write-once retention that the server enforces, even against the credentials that
 * wrote the object. On a store whose `enabled()` said yes, `delete` removes every version of a key, and
 * refuses with OBJECT_LOCKED while one is retained (a plain delete would only hide it behind a marker).
 */
export interface ObjectLock {
  /** Whether the bucket has Object Lock enabled (asks the server each time; a local store probes). */
  enabled(options?: CallOptions): Promise<boolean>
  /** Why the last enabled() said no, in words, where the store knows (a local store: fs or privilege). */
  readonly refusal?: string | undefined
  /** The key's current retention; undefined if it has none. NOT_FOUND if absent. */
  retention(key: string, options?: CallOptions): Promise<Retention | undefined>
  /** Sets a later retention in place (PutObjectRetention: never a rewrite); the server refuses shortening. */
  extend(key: string, retention: Retention, options?: CallOptions): Promise<void>
}

export interface ObjectStore {
  /** A name for messages and logs, e.g. "local:/srv/backups" or "s3:bucket/prefix". Never credentials. */
  readonly name: string
  readonly capabilities: StoreCapabilities
  put(key: string, data: Uint8Array, options?: PutOptions): Promise<void>
  /** The whole object; NOT_FOUND if absent. */
  get(key: string, options?: CallOptions): Promise<Uint8Array>
  /** `length` bytes from `offset`; fewer only at the end of the object. NOT_FOUND if absent. */
  getRange(key: string, offset: number, length: number, options?: RangeOptions): Promise<Uint8Array>
  /** undefined if absent. */
  stat(key: string, options?: CallOptions): Promise<ObjectInfo | undefined>
  /** Every object whose key starts with `prefix`, in key order (UTF-8 bytes, as S3 lists). */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string, options?: CallOptions): Promise<void>
  /**
   * Deletes what interrupted puts left behind (temp files of a local store, unfinished multipart
   * uploads on S3) that is older than `olderThanMs`, so that in-flight puts of other processes are
   * spared; returns how many leftovers went. Optional: absent where puts leave nothing.
   */
  removeIncomplete?(olderThanMs: number, options?: CallOptions): Promise<number>
  /**
   * What removeIncomplete would remove now, as a stream (directories and listing pages are walked as it
   * goes, never held whole). Optional, like removeIncomplete.
   */
  listIncomplete?(olderThanMs: number, options?: CallOptions): AsyncIterable<Leftover>
  /** Object Lock, where the store can have it (S3). */
  readonly objectLock?: ObjectLock
  /** Releases connections and handles. */
  close?(): Promise<void>
}
