// The ustar subset XVA uses: regular files only, names under 100 bytes, sizes in octal, the stream ended
// by two zero blocks. Pure: headers encoded and decoded from bytes.
const BLOCK = 512

export function tarHeader(name: string, size: number, mtime = Math.floor(Date.now() / 1000)): Buffer {
  const h = Buffer.alloc(BLOCK)
  const put = (text: string, at: number, len: number): void =>
    void h.write(text.slice(0, len), at, len, 'latin1')
  const octal = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0')
  if (Buffer.byteLength(name) > 100) throw new RangeError(`tar entry name too long: ${name}`)
  put(name, 0, 100)
  put(octal(0o644, 8), 100, 8)
  put(octal(0, 8), 108, 8)
  put(octal(0, 8), 116, 8)
  put(octal(size, 12), 124, 12)
  put(octal(mtime, 12), 136, 12)
  h.fill(0x20, 148, 156) // checksum field counts as spaces
  h[156] = 0x30 // '0': regular file
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const b of h) sum += b
  put(`${octal(sum, 7)}\0 `, 148, 8)
  return h
}

export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK)
}

export const TAR_END = Buffer.alloc(2 * BLOCK)

export interface TarEntry {
  name: string
  data: Buffer
}

/** Parses a header block; undefined for the zero block that ends the archive. */
export function parseTarHeader(block: Buffer): { name: string; size: number } | undefined {
  if (block.every((b) => b === 0)) return undefined
  const field = (at: number, len: number): string =>
    block
      .subarray(at, at + len)
      .toString('latin1')
      .replace(/\0.*$/s, '')
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0)
  if (parseInt(field(148, 8).trim(), 8) !== sum) throw new Error('tar header checksum mismatch')
  const size = parseInt(field(124, 12).trim() || '0', 8)
  const prefix = field(345, 155)
  const name = field(0, 100)
  return { name: prefix === '' ? name : `${prefix}/${name}`, size }
}

/** Entries of a tar stream, each buffered whole (XVA entries are at most 1 MiB). */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  let buffered = Buffer.alloc(0)
  const it = source[Symbol.asyncIterator]()
  const take = async (n: number): Promise<Buffer | undefined> => {
    while (buffered.length < n) {
      const next = await it.next()
      if (next.done === true) return undefined
      buffered = Buffer.concat([buffered, next.value])
    }
    const out = buffered.subarray(0, n)
    buffered = buffered.subarray(n)
    return out
  }
  for (;;) {
    const block = await take(BLOCK)
    if (block === undefined) throw new Error('premature end of the tar stream')
    const header = parseTarHeader(Buffer.from(block))
    if (header === undefined) return
    const data = await take(header.size + tarPadding(header.size).length)
    if (data === undefined) throw new Error(`premature end of the tar stream in ${header.name}`)
    yield { name: header.name, data: Buffer.from(data.subarray(0, header.size)) }
  }
}
