// NEVER CHANGE the values in this file: they are the repository's on-disk format (docs/repository-format.md).
// A new format gets new constants and a new version number; old repositories must keep reading.

export const REPOSITORY_FORMAT = 'strata-repository'
export const REPOSITORY_VERSION = 1

/** Chunk sizes allowed at creation: powers of two in [MIN, MAX]. */
export const MIN_CHUNK_SIZE = 512 * 1024
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024
export const DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024

/** Length of a chunk id (SHA-256 or HMAC-SHA-256). */
export const ID_LENGTH = 32
/** The reserved id of an all-zero chunk: never stored, never computed. */
export const ZERO_ID: Uint8Array = new Uint8Array(ID_LENGTH)

/** Envelope: every stored object (chunk, disk index, manifest) is wrapped in one. */
export const ENVELOPE_MAGIC = 0x5354454e // 'STEN'
export const ENVELOPE_VERSION = 1
export const ENVELOPE_HEADER_LENGTH = 12
export const FLAG_COMPRESSED = 0x01
export const FLAG_ENCRYPTED = 0x02
export const KIND_CHUNK = 1
export const KIND_INDEX = 2
export const KIND_MANIFEST = 3
/** A segment of the point index (`index/points/segment.…`), added to version 1 with the index. */
export const KIND_POINT_SEGMENT = 4
export const GCM_NONCE_LENGTH = 12
export const GCM_TAG_LENGTH = 16
/** Unencrypted non-chunk objects end with the SHA-256 of their plaintext. */
export const PLAIN_CHECKSUM_LENGTH = 32

/** Fixed disk index. */
export const INDEX_MAGIC = 0x53494458 // 'SIDX'
export const INDEX_VERSION = 1
export const INDEX_HEADER_LENGTH = 64

/** Key derivation labels (HKDF-SHA-256 info strings) for the subkeys of the master key. */
export const MASTER_KEY_LENGTH = 32
export const HKDF_INFO_DATA_KEY = 'strata/v1/data-key'
export const HKDF_INFO_ID_KEY = 'strata/v1/chunk-id-key'
/** Key slots wrap the master key with AES-256-GCM under a KDF-derived key; this is its associated data. */
export const KEY_SLOT_AAD = 'strata/v1/key-slot'
/** HKDF info of the key that MACs the config seal (added to version 1 with the seal, an optional object). */
export const HKDF_INFO_SEAL_KEY = 'strata/v1/config-seal-key'

/** Object key prefixes. */
export const KEY_CONFIG = 'config'
export const PREFIX_KEYS = 'keys/'
export const PREFIX_CHUNKS = 'chunks/'
export const PREFIX_POINTS = 'points/'
export const PREFIX_SESSIONS = 'sessions/'
export const PREFIX_GC = 'gc/'
export const PREFIX_BAD = 'bad/'
/** `seals/<repository id>`: the config seal of an encrypted repository. */
export const PREFIX_SEALS = 'seals/'
export const MANIFEST_NAME = 'manifest'
/** `points/<vm>/<point id>/protected`: the point is kept by retention and refused to deletes. */
export const PROTECTED_NAME = 'protected'
/**
 * The point index (added to version 1): `index/points/<point id>.<nonce>.<vm segment>` (an empty entry per
 * point, written before its manifest), `index/points/protected.<point id>.<vm segment>` (mirror of a
 * protection marker), `index/points/segment.<stamp>-<random>` (described entries), `index/points/ready`.
 */
export const PREFIX_POINT_INDEX = 'index/points/'
export const POINT_INDEX_READY = 'ready'
export const POINT_INDEX_PROTECTED = 'protected.'
export const POINT_INDEX_SEGMENT = 'segment.'
