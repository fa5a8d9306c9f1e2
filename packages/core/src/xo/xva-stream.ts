// An XVA's bytes, front to back: read in windows (a few ahead), decrypted when the remote is encrypted
// (its tag read first, checked at the end), checked against `<xva>.checksum` (md5, written on clear
// remotes only) when there is one, and inflated when XAPI compressed it (gzip or zstd, by magic).
import { createHash } from 'node:crypto'
import { pipeline, Readable, type Transform } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { DecompressStream } from 'zstd-napi'
import { throwIfAborted } from '../shared/index.js'
import { authFailed, decipher, IV_LENGTH, TAG_LENGTH, type XoAlgorithm } from './crypto.js'
import { XoError } from './errors.js'
import type { XoRemote } from './remote.js'

const WINDOW = 8 * 1024 * 1024
const AHEAD = 2

/** The XVA's tar bytes. Errors (authentication, checksum) may come after the last byte: read to the end. */
export async function* xvaTarBytes(
  remote: XoRemote,
  path: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const stored = xvaStoredBytes(remote, path, signal)
  const first = await stored.next()
  if (first.done === true) throw new XoError('XO_XVA_INVALID', `XVA ${path} is empty`)
  const head = first.value
  const rest = async function* (): AsyncGenerator<Uint8Array> {
    yield head
    yield* stored
  }
  if (head[0] === 0x1f && head[1] === 0x8b) yield* inflate(rest(), createGunzip())
  else if (head.length >= 4 && Buffer.from(head).readUInt32BE(0) === 0x28b52ffd)
    yield* inflate(rest(), new DecompressStream())
  else yield* rest()
}

async function* inflate(
  source: AsyncGenerator<Uint8Array>,
  transform: Transform,
): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source, { objectMode: false })
  const output = pipeline(input, transform, () => {}) // an error in either ends the iteration below
  try {
    for await (const piece of output as AsyncIterable<Buffer>) yield piece
  } finally {
    input.destroy()
    transform.destroy()
  }
}

/**
 * The XVA as stored (decrypted), what XAPI's import takes. The last piece comes out only once the whole
 * file has been verified: a consumer never receives all of a file that fails its tag or its md5.
 */
export async function* xvaStoredBytes(
  remote: XoRemote,
  path: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let held: Uint8Array | undefined
  for await (const bytes of checkedBytes(remote, path, signal)) {
    if (held !== undefined) yield held
    held = bytes
  }
  if (held !== undefined) yield held
}

/** The XVA's plaintext length (what xvaStoredBytes yields in all). */
export async function xvaStoredSize(remote: XoRemote, path: string, signal?: AbortSignal): Promise<number> {
  const size = await remote.size(path, signal)
  if (size === undefined) throw new XoError('XO_NOT_FOUND', `XVA ${path} is missing from ${remote.name}`)
  return remote.encrypted ? Math.max(0, size - IV_LENGTH - TAG_LENGTH) : size
}

async function* checkedBytes(
  remote: XoRemote,
  path: string,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const size = await remote.size(path, signal)
  if (size === undefined) throw new XoError('XO_NOT_FOUND', `XVA ${path} is missing from ${remote.name}`)
  if (remote.encrypted) {
    yield* decrypted(remote, path, size, signal)
    return
  }
  const expected = await md5Of(remote, path, signal)
  const md5 = createHash('md5')
  for await (const bytes of windows(remote, path, 0, size, signal)) {
    md5.update(bytes)
    yield bytes
  }
  if (expected !== undefined && md5.digest('hex') !== expected) {
    throw new XoError('XO_CHECKSUM_MISMATCH', `XVA ${path} does not match its md5 in ${path}.checksum`)
  }
}

async function* decrypted(
  remote: XoRemote,
  path: string,
  size: number,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const what = `XVA ${path} in ${remote.name}`
  if (size < IV_LENGTH + TAG_LENGTH) throw authFailed(what)
  const iv = await remote.files.readRange(path, 0, IV_LENGTH, signal)
  const tag = await remote.files.readRange(path, size - TAG_LENGTH, TAG_LENGTH, signal)
  const d = decipher(remote.algorithm as Exclude<XoAlgorithm, 'none'>, remote.key!, iv)
  d.setAuthTag(tag)
  for await (const bytes of windows(remote, path, IV_LENGTH, size - TAG_LENGTH, signal)) yield d.update(bytes)
  let tail: Buffer
  try {
    tail = d.final()
  } catch (error) {
    throw authFailed(what, error)
  }
  if (tail.length > 0) yield tail
}

/** `<xva>.checksum`: '$1$$' then the md5 in hex; undefined when absent. */
async function md5Of(remote: XoRemote, path: string, signal?: AbortSignal): Promise<string | undefined> {
  const bytes = await remote.readIfPresent(`${path}.checksum`, 256, signal)
  if (bytes === undefined) return undefined
  const m = /^\$1\$\$([0-9a-f]{32})\s*$/i.exec(Buffer.from(bytes).toString('latin1'))
  if (m === null) throw new XoError('XO_XVA_INVALID', `${path}.checksum is not '$1$$<md5>'`)
  return m[1]!.toLowerCase()
}

/** The bytes [start, end) of a file, in windows, AHEAD reads in flight. */
async function* windows(
  remote: XoRemote,
  path: string,
  start: number,
  end: number,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const pending: Promise<Uint8Array>[] = []
  let next = start
  const read = (): void => {
    const offset = next
    const length = Math.min(WINDOW, end - offset)
    next += length
    const p = remote.files.readRange(path, offset, length, signal).then((bytes) => {
      if (bytes.length !== length) throw new XoError('XO_XVA_INVALID', `XVA ${path} is shorter than its size`)
      return bytes
    })
    p.catch(() => {}) // observed when taken
    pending.push(p)
  }
  while (next < end && pending.length < AHEAD) read()
  while (pending.length > 0) {
    throwIfAborted(signal)
    const bytes = await pending.shift()!
    if (next < end) read()
    yield bytes
  }
}
