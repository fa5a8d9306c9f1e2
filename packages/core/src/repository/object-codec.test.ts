import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeObject,
  decodeObjectInto,
  encodeObject,
  encodeObjectInto,
  looksCompressible,
  maxEncodedLength,
  maxPlainLength,
} from './object-codec.js'
import { seal } from './crypto/seal.js'
import { encodeEnvelopeHeader } from './format/envelope.js'
import { FLAG_COMPRESSED, FLAG_ENCRYPTED, KIND_CHUNK, KIND_INDEX, KIND_MANIFEST } from './format/constants.js'
import { zstdBomb } from './testing/zstd-bomb.js'

describe('object codec', () => {
  const key = randomBytes(32)
  const text = Buffer.alloc(1 << 20, 'strata repository ')

  it('compresses what compresses and stores the rest raw', () => {
    expect(looksCompressible(randomBytes(1 << 20))).toBe(false)
    expect(looksCompressible(text)).toBe(true)
    // Half random, half text: the probe still sees the text samples.
    expect(looksCompressible(Buffer.concat([randomBytes(1 << 19), text.subarray(0, 1 << 19)]))).toBe(true)
    const packed = encodeObject(KIND_CHUNK, text, Buffer.alloc(32), { dataKey: undefined, level: 3 })
    expect(packed[6]! & FLAG_COMPRESSED).toBe(FLAG_COMPRESSED)
    const random = randomBytes(1 << 20)
    const raw = encodeObject(KIND_CHUNK, random, Buffer.alloc(32), { dataKey: undefined, level: 3 })
    expect(raw[6]! & FLAG_COMPRESSED).toBe(0)
    expect(Buffer.from(decodeObject(raw, KIND_CHUNK, Buffer.alloc(32), undefined, 'x')).equals(random)).toBe(
      true,
    )
  })

  it('binds sealed objects to their name and detects tampering', () => {
    const name = Buffer.from('points/vm/p/manifest')
    const sealed = encodeObject(KIND_MANIFEST, text, name, { dataKey: key, level: 3 })
    expect(Buffer.from(decodeObject(sealed, KIND_MANIFEST, name, key, 'm')).equals(text)).toBe(true)
    expect(() => decodeObject(sealed, KIND_MANIFEST, Buffer.from('points/vm/q/manifest'), key, 'm')).toThrow(
      /authentication/,
    )
    sealed[20]! ^= 1
    expect(() => decodeObject(sealed, KIND_MANIFEST, name, key, 'm')).toThrow(/authentication/)
    const plain = encodeObject(KIND_MANIFEST, text, name, { dataKey: undefined, level: 0 })
    plain[100]! ^= 1
    expect(() => decodeObject(plain, KIND_MANIFEST, name, undefined, 'm')).toThrow(/checksum/)
  })

  it('encodes into a given buffer what encodeObject encodes, within maxEncodedLength', () => {
    const mixed = Buffer.concat([randomBytes(1 << 19), Buffer.alloc(3 << 19)]) // a chunk after a small write
    const odd = randomBytes((2 << 20) - 4099) // not a multiple of the cipher's pieces
    const binding = randomBytes(32)
    for (const plain of [text, mixed, randomBytes(2 << 20), odd, Buffer.alloc(0)])
      for (const dataKey of [key, undefined])
        for (const level of [0, 1, 3])
          for (const kind of [KIND_CHUNK, KIND_MANIFEST]) {
            const what = `${plain.length} bytes, key ${dataKey !== undefined}, level ${level}, kind ${kind}`
            const out = Buffer.alloc(maxEncodedLength(plain.length) + 16, 0xee)
            const length = encodeObjectInto(out, kind, plain, binding, { dataKey, level })
            expect(length, what).toBeLessThanOrEqual(maxEncodedLength(plain.length))
            expect(out[length], `${what}: nothing written past the end`).toBe(0xee)
            const encoded = out.subarray(0, length)
            expect(Buffer.from(decodeObject(encoded, kind, binding, dataKey, what)).equals(plain), what).toBe(
              true,
            )
            const reference = encodeObject(kind, plain, binding, { dataKey, level })
            expect(encoded[6], `${what}: same flags`).toBe(reference[6])
            if (dataKey === undefined) expect(encoded.equals(reference), `${what}: same bytes`).toBe(true)
            else expect(length, `${what}: same length`).toBe(reference.length)
          }
  })

  it('decodes into a given buffer what decodeObject decodes, and refuses what would not fit', () => {
    const odd = randomBytes((2 << 20) - 4099)
    const binding = randomBytes(32)
    for (const plain of [text, randomBytes(2 << 20), odd, Buffer.alloc(0)])
      for (const dataKey of [key, undefined])
        for (const level of [0, 3])
          for (const kind of [KIND_CHUNK, KIND_MANIFEST]) {
            const what = `${plain.length} bytes, key ${dataKey !== undefined}, level ${level}, kind ${kind}`
            const encoded = encodeObject(kind, plain, binding, { dataKey, level })
            // Shared memory, as the codec workers get it, with a guard byte past the plaintext.
            const out = new Uint8Array(new SharedArrayBuffer(plain.length + 1)).fill(0xee)
            const length = decodeObjectInto(out, encoded, kind, binding, dataKey, what)
            expect(length, what).toBe(plain.length)
            expect(Buffer.from(out.subarray(0, length)).equals(plain), what).toBe(true)
            expect(out[length], `${what}: nothing written past the plaintext`).toBe(0xee)
            if (plain.length === 0) continue
            const small = new Uint8Array(plain.length - 1)
            expect(() => decodeObjectInto(small, encoded, kind, binding, dataKey, what), what).toThrow(
              /is corrupt: length/,
            )
            // Plain chunks are checked against their id by the repository, every other object here.
            if (dataKey === undefined && kind === KIND_CHUNK) continue
            const tampered = Buffer.from(encoded)
            tampered[tampered.length - 40]! ^= 1
            expect(() => decodeObjectInto(out, tampered, kind, binding, dataKey, what), what).toThrow(
              dataKey !== undefined ? /authentication/ : /corrupt/,
            )
          }
  })
})

describe('decompression bombs', () => {
  const GiB = 1024 ** 3 // the bombs are half of it: enough to show in the peak RSS, quick to make
  /** An envelope (plain or sealed) whose header declares `declared` bytes around a zstd frame. */
  const bombEnvelope = (kind: number, declared: number, frame: Buffer, dataKey?: Uint8Array): Buffer => {
    const header = encodeEnvelopeHeader({
      kind,
      flags: FLAG_COMPRESSED | (dataKey === undefined ? 0 : FLAG_ENCRYPTED),
      plainLength: declared,
    })
    const binding = Buffer.from('points/vm/p/manifest')
    if (dataKey !== undefined)
      return Buffer.concat([header, ...seal(dataKey, frame, Buffer.concat([header, binding]))])
    return Buffer.concat([header, frame, Buffer.alloc(32)])
  }
  const peakGrowth = (run: () => void): number => {
    const before = process.resourceUsage().maxRSS * 1024
    run()
    return process.resourceUsage().maxRSS * 1024 - before
  }

  it.each([
    ['declared in the frame', true],
    ['not declared in the frame', false],
  ])(
    'refuses a 512 MiB bomb in a manifest that declares 100 bytes (%s), without allocating it',
    (_, declare) => {
      const frame = zstdBomb(GiB / 2, declare)
      const key = randomBytes(32)
      for (const dataKey of [undefined, key]) {
        const envelope = bombEnvelope(KIND_MANIFEST, 100, frame, dataKey)
        const binding = Buffer.from('points/vm/p/manifest')
        const growth = peakGrowth(() =>
          expect(() => decodeObject(envelope, KIND_MANIFEST, binding, dataKey, 'manifest m')).toThrow(
            expect.objectContaining({ code: 'CORRUPT_OBJECT', message: expect.stringMatching(/manifest m/) }),
          ),
        )
        expect(growth).toBeLessThan(64 * 1024 * 1024)
      }
    },
  )

  it('refuses a header that declares more than the kind allows before reading the payload', () => {
    const frame = zstdBomb(1 << 20)
    const binding = Buffer.from('points/vm/p/manifest')
    const envelope = bombEnvelope(KIND_MANIFEST, 2 * GiB, frame)
    expect(() => decodeObject(envelope, KIND_MANIFEST, binding, undefined, 'manifest m')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT', message: expect.stringMatching(/at most/) }),
    )
    // An index is bounded by the largest disk an index may describe at the repository's chunk size.
    const index = bombEnvelope(KIND_INDEX, maxPlainLength(KIND_INDEX, 4 << 20) + 1, frame)
    expect(() =>
      decodeObject(index, KIND_INDEX, binding, undefined, 'index i', maxPlainLength(KIND_INDEX, 4 << 20)),
    ).toThrow(expect.objectContaining({ code: 'CORRUPT_OBJECT' }))
  })

  it('still decodes what an honest writer compressed, at its declared size', () => {
    const plain = Buffer.alloc(3 << 20, 'manifest ')
    const name = Buffer.from('points/vm/p/manifest')
    const encoded = encodeObject(KIND_MANIFEST, plain, name, { dataKey: undefined, level: 3 })
    expect(encoded[6]! & FLAG_COMPRESSED).toBe(FLAG_COMPRESSED)
    expect(Buffer.from(decodeObject(encoded, KIND_MANIFEST, name, undefined, 'm')).equals(plain)).toBe(true)
  })
})
