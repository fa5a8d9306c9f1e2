import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeObject,
  decodeObjectInto,
  encodeObject,
  encodeObjectInto,
  looksCompressible,
  maxEncodedLength,
} from './object-codec.js'
import { FLAG_COMPRESSED, KIND_CHUNK, KIND_MANIFEST } from './format/constants.js'

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
