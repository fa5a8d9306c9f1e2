import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { decodeObject, encodeObject, looksCompressible } from './object-codec.js'
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
})
