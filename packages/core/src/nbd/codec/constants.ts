// NBD protocol numbers (NetworkBlockDevice/nbd doc/proto.md). Never change: these are the wire protocol.

export const NBDMAGIC = 0x4e42444d41474943n // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n // "IHAVEOPT"
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n
export const REQUEST_MAGIC = 0x25609513
export const SIMPLE_REPLY_MAGIC = 0x67446698
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1
export const FLAG_NO_ZEROES = 2

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const

export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const

const ERR = 0x80000000
export const RepErr = {
  UNSUP: ERR + 1,
  POLICY: ERR + 2,
  INVALID: ERR + 3,
  PLATFORM: ERR + 4,
  TLS_REQD: ERR + 5,
  UNKNOWN: ERR + 6,
  SHUTDOWN: ERR + 7,
  BLOCK_SIZE_REQD: ERR + 8,
  TOO_BIG: ERR + 9,
} as const

export const isOptionError = (type: number): boolean => type >= ERR

export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const

/** Transmission flags (per export). */
export const TFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_CACHE: 1 << 10,
} as const

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const

export const CmdFlag = { FUA: 1, NO_HOLE: 2, DF: 4, REQ_ONE: 8, FAST_ZERO: 16 } as const

export const ReplyFlag = { DONE: 1 } as const

export const ReplyType = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const

export const isReplyError = (type: number): boolean => (type & (1 << 15)) !== 0

/** Error numbers on the wire (not the host's errno values). */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const

export const errnoName = (errno: number): string =>
  Object.entries(Errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`

/** `base:allocation` extent flags. */
export const STATE_HOLE = 1
export const STATE_ZERO = 2
/** `qemu:dirty-bitmap:NAME` extent flag. */
export const STATE_DIRTY = 1

export const BASE_ALLOCATION = 'base:allocation'

export const SIMPLE_REPLY_SIZE = 16
export const STRUCTURED_REPLY_HEADER_SIZE = 20
export const REQUEST_SIZE = 28
/** Size of the reply to NBD_OPT_EXPORT_NAME without NO_ZEROES: size, flags, 124 zero bytes. */
export const EXPORT_NAME_REPLY_SIZE = 134
/** The spec's hard limit on strings (export names, messages). */
export const MAX_STRING = 4096
/** The largest request payload any server is expected to accept without a block-size negotiation. */
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024
