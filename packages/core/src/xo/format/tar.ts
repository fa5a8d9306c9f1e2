// The tar of an XVA (ustar: 512-byte headers, octal sizes, entries padded to 512, two zero blocks at
// the end): headers decoded from bytes, and the entries of a byte stream with each entry's data bounded.
import { XoError } from '../errors.js'

export const TAR_BLOCK = 512

export interface TarHeader {
  readonly name: string
  readonly size: number
  /** '0' (or NUL) for a regular file. */
  readonly type: string
}

export interface TarEntry extends TarHeader {
  readonly data: Uint8Array
}

/** A header block, or undefined for a zero block (the end of the archive). */
export function parseTarHeader(block: Uint8Array, what: string): TarHeader | undefined {
  if (block.every((b) => b === 0)) return undefined
  const text = (at: number, length: number): string =>
    Buffer.from(block.subarray(at, at + length))
      .toString('latin1')
      .replace(/\0.*$/s, '')
  let sum = 0
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!
  const stored = text(148, 8).trim()
  if (!/^[0-7]+$/.test(stored) || parseInt(stored, 8) !== sum) {
    throw new XoError('XO_XVA_INVALID', `${what}: a tar header's checksum does not match`)
  }
  const sizeField = text(124, 12).trim()
  if (!/^[0-7]*$/.test(sizeField)) throw new XoError('XO_XVA_INVALID', `${what}: a tar size is not octal`)
  const prefix = block[257] === 0x75 /* 'u'star */ ? text(345, 155) : ''
  const name = text(0, 100)
  return {
    name: prefix === '' ? name : `${prefix}/${name}`,
    size: sizeField === '' ? 0 : parseInt(sizeField, 8),
    type: block[156] === 0 ? '0' : String.fromCharCode(block[156]!),
  }
}

/** Bytes taken from a stream of pieces, copied once each. */
class Pieces {
  readonly #it: AsyncIterator<Uint8Array>
  #pieces: Uint8Array[] = []
  #length = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]()
  }

  /** Exactly `n` bytes, or undefined when the stream ends first. */
  async take(n: number): Promise<Uint8Array | undefined> {
    while (this.#length < n) {
      const next = await this.#it.next()
      if (next.done === true) return undefined
      this.#pieces.push(next.value)
      this.#length += next.value.length
    }
    const first = this.#pieces[0]!
    if (first.length >= n) {
      this.#pieces[0] = first.subarray(n)
      this.#length -= n
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const piece = this.#pieces[0]!
      const part = Math.min(piece.length, n - filled)
      out.set(piece.subarray(0, part), filled)
      filled += part
      if (part === piece.length) this.#pieces.shift()
      else this.#pieces[0] = piece.subarray(part)
    }
    this.#length -= n
    return out
  }

  /** The rest of the stream, read to its end; true when it holds only zeros. */
  async drainZeros(): Promise<boolean> {
    let zeros = this.#pieces.every((p) => p.every((b) => b === 0))
    this.#pieces = []
    for (let next = await this.#it.next(); next.done !== true; next = await this.#it.next()) {
      zeros &&= next.value.every((b) => b === 0)
    }
    return zeros
  }
}

/**
 * The entries of a tar stream, each entry's data whole (at most `maxEntry` bytes). The stream is read
 * to its end: what follows the end-of-archive blocks must be zeros.
 */
export async function* tarEntries(
  source: AsyncIterable<Uint8Array>,
  maxEntry: number,
  what: string,
): AsyncGenerator<TarEntry> {
  const input = new Pieces(source)
  for (;;) {
    const block = await input.take(TAR_BLOCK)
    if (block === undefined)
      throw new XoError('XO_XVA_INVALID', `${what} ends without the end-of-archive blocks`)
    const header = parseTarHeader(block, what)
    if (header === undefined) break
    if (header.size > maxEntry) {
      throw new XoError(
        'XO_XVA_INVALID',
        `${what}: entry ${header.name} holds ${header.size} bytes, more than ${maxEntry}`,
      )
    }
    const padded = Math.ceil(header.size / TAR_BLOCK) * TAR_BLOCK
    const data = await input.take(padded)
    if (data === undefined) throw new XoError('XO_XVA_INVALID', `${what} is cut short inside ${header.name}`)
    yield { ...header, data: data.subarray(0, header.size) }
  }
  if (!(await input.drainZeros()))
    throw new XoError('XO_XVA_INVALID', `${what} has data after its end-of-archive blocks`)
}
