// VHD on-disk constants. NEVER CHANGE: these values are the format (Microsoft VHD specification 1.0),
// shared with XAPI's vhd-tool, qemu-img and Xen Orchestra. Our own policy limits sit at the bottom.

export const SECTOR_SIZE = 512
export const FOOTER_SIZE = 512
export const HEADER_SIZE = 1024

export const FOOTER_COOKIE = 'conectix'
export const HEADER_COOKIE = 'cxsparse'

/** Footer `features`: bit 1 "reserved" must always be set. */
export const FEATURES_RESERVED = 0x00000002
export const FILE_FORMAT_VERSION = 0x00010000
export const HEADER_VERSION = 0x00010000

/** `dataOffset` of a fixed disk's footer, and of the dynamic header: "no next structure". */
export const NO_DATA_OFFSET = 0xffffffffffffffffn

export const DiskType = {
  fixed: 2,
  dynamic: 3,
  differencing: 4,
} as const
export type DiskTypeName = keyof typeof DiskType

/** A BAT entry that points nowhere: the block is not allocated in this file. */
export const BAT_UNUSED = 0xffffffff

/** Seconds between the Unix epoch and the VHD epoch (2000-01-01T00:00:00Z). */
export const VHD_EPOCH_OFFSET = 946_684_800

export const DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024

// Footer field offsets.
export const F_COOKIE = 0
export const F_FEATURES = 8
export const F_VERSION = 12
export const F_DATA_OFFSET = 16
export const F_TIMESTAMP = 24
export const F_CREATOR_APP = 28
export const F_CREATOR_VERSION = 32
export const F_CREATOR_HOST_OS = 36
export const F_ORIGINAL_SIZE = 40
export const F_CURRENT_SIZE = 48
export const F_CYLINDERS = 56
export const F_HEADS = 58
export const F_SECTORS_PER_TRACK = 59
export const F_DISK_TYPE = 60
export const F_CHECKSUM = 64
export const F_UUID = 68
export const F_SAVED_STATE = 84

// Dynamic header field offsets.
export const H_COOKIE = 0
export const H_DATA_OFFSET = 8
export const H_TABLE_OFFSET = 16
export const H_VERSION = 24
export const H_MAX_TABLE_ENTRIES = 28
export const H_BLOCK_SIZE = 32
export const H_CHECKSUM = 36
export const H_PARENT_UUID = 40
export const H_PARENT_TIMESTAMP = 56
export const H_PARENT_NAME = 64
export const H_PARENT_NAME_SIZE = 512
export const H_LOCATORS = 576
export const LOCATOR_ENTRY_SIZE = 24
export const LOCATOR_COUNT = 8

/** Parent locator platform codes (4 ASCII characters, stored as a big-endian u32). */
export const PlatformCode = {
  none: 0,
  /** Windows relative path, UTF-16LE. */
  W2ru: 0x57327275,
  /** Windows absolute path, UTF-16LE. */
  W2ku: 0x57326b75,
  /** Deprecated Windows relative/absolute paths, ANSI. */
  Wi2r: 0x57693272,
  Wi2k: 0x5769326b,
  /** Mac OS X file URL, UTF-8 (what vhd-tool and blktap write). */
  MacX: 0x4d616358,
} as const

// Policy limits (ours, not the format's): they bound what a hostile file can make us allocate.

/** XAPI's and qemu's limit for a VHD disk: 2040 GiB. */
export const MAX_DISK_SIZE = 2040 * 1024 * 1024 * 1024
/** Smallest and largest accepted block sizes (Virtual PC used 512 KiB; everyone else 2 MiB). */
export const MIN_BLOCK_SIZE = 512 * 1024
export const MAX_BLOCK_SIZE = 32 * 1024 * 1024
/** Most BAT entries a disk of MAX_DISK_SIZE can need: bounds the one allocation proportional to the disk. */
export const MAX_TABLE_ENTRIES = MAX_DISK_SIZE / MIN_BLOCK_SIZE
/** Largest parent locator payload we read (a path). */
export const MAX_LOCATOR_LENGTH = 64 * 1024
