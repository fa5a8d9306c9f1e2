// What guestfish reads and prints, as pure functions: command lines whose every argument is a quoted
// string of escapes (a file name can hold any byte but NUL and '/'), string lists in the single-quote
// syntax guestfish splits them with, and the stat structures and filesystem tables it prints.

/** Bytes passed through as they are inside a double-quoted guestfish argument; the rest are \xNN. */
const PLAIN = /^[A-Za-z0-9_.,:/@+=-]$/

/** One argument, double-quoted, each byte outside PLAIN written as \xNN (guestfish decodes these). */
export function quoteArg(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  let out = '"'
  for (const byte of bytes) {
    if (byte === 0) throw new RangeError('a guestfish argument cannot hold a NUL byte')
    const char = String.fromCharCode(byte)
    out += byte < 0x80 && PLAIN.test(char) ? char : `\\x${byte.toString(16).padStart(2, '0')}`
  }
  return `${out}"`
}

/**
 * A string list argument (guestfish splits it on blanks; single quotes group, \' is a quote): each
 * element in single quotes, a quote inside it closed, escaped and reopened. Then quoted as one argument.
 */
export function quoteList(values: readonly (string | Uint8Array)[]): string {
  return quoteArg(listSyntax(values))
}

/** The string list itself, before it is quoted as an argument (for `name:LIST` optional arguments). */
export function listSyntax(values: readonly (string | Uint8Array)[]): Buffer {
  const parts = values.map((value) => {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)
    if (bytes.length === 0) throw new RangeError('a guestfish list cannot hold an empty string')
    const pieces: Buffer[] = []
    let start = 0
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x27) continue
      const piece = bytes.subarray(start, i)
      if (piece.length > 0) pieces.push(quotedPiece(piece))
      if (i < bytes.length) pieces.push(Buffer.from("\\'"))
      start = i + 1
    }
    return Buffer.concat(pieces)
  })
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(' '), p])))
}

/**
 * A piece without quotes, in single quotes; trailing backslashes stay outside them, where nothing but a
 * blank, the end or an escaped quote follows (inside, one would escape the closing quote).
 */
function quotedPiece(piece: Buffer): Buffer {
  let body = piece.length
  while (body > 0 && piece[body - 1] === 0x5c) body--
  const quoted = body === 0 ? [] : [Buffer.from("'"), piece.subarray(0, body), Buffer.from("'")]
  return Buffer.concat([...quoted, piece.subarray(body)])
}

/** A command line; the leading '-' keeps guestfish going when the command fails. */
export function commandLine(name: string, args: readonly string[]): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new RangeError(`'${name}' is not a guestfish command name`)
  return `-${[name, ...args].join(' ')}\n`
}

export interface GuestStat {
  readonly mode: number
  readonly size: number
  readonly mtimeSec: number
  readonly ino: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
}

/** `lstatns` output: `key: value` lines. */
export function parseStat(text: string): GuestStat {
  const fields = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^\s*(st_[a-z_0-9]+): (-?\d+)$/.exec(line)
    if (m !== null) fields.set(m[1]!, Number(m[2]))
  }
  const get = (key: string): number => {
    const value = fields.get(key)
    if (value === undefined) throw new SyntaxError(`guestfish printed no ${key} in a stat structure`)
    return value
  }
  return {
    mode: get('st_mode'),
    size: get('st_size'),
    mtimeSec: get('st_mtime_sec'),
    ino: get('st_ino'),
    nlink: get('st_nlink'),
    uid: get('st_uid'),
    gid: get('st_gid'),
  }
}

/** `lstatnslist` output: `[i] = {` ... `}` blocks, in the order of the names asked. */
export function parseStatList(text: string): GuestStat[] {
  const blocks = text.split(/^\[\d+\] = \{$/m).slice(1)
  return blocks.map((block) => parseStat(block.slice(0, block.lastIndexOf('}'))))
}

/** `list-filesystems` output: `DEVICE: TYPE` lines (devices never hold ': '). */
export function parseFilesystems(text: string): { device: string; type: string }[] {
  return text
    .split('\n')
    .filter((line) => line.includes(': '))
    .map((line) => {
      const at = line.indexOf(': ')
      return { device: line.slice(0, at), type: line.slice(at + 2).trim() }
    })
}

/** NUL-terminated names (ls0, find0), as raw bytes: a name need not be UTF-8. */
export function splitNul(bytes: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let start = 0; start < bytes.length;) {
    let end = bytes.indexOf(0, start)
    if (end === -1) end = bytes.length
    if (end > start) out.push(bytes.subarray(start, end))
    start = end + 1
  }
  return out
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'block' | 'char' | 'fifo' | 'socket' | 'unknown'

const TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o060000: 'block',
  0o020000: 'char',
  0o010000: 'fifo',
  0o140000: 'socket',
}

export function entryType(mode: number): EntryType {
  return TYPES[mode & 0o170000] ?? 'unknown'
}
