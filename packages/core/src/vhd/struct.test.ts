import { describe, expect, it } from 'vitest'
import { F_CHECKSUM, F_CURRENT_SIZE, H_BLOCK_SIZE, H_CHECKSUM, MAX_DISK_SIZE } from './constants.js'
import { vhdChecksum, view } from './bytes.js'
import { encodeFooter, parseFooter } from './footer.js'
import { chsGeometry, geometryBytes, geometryFor, MAX_GEOMETRY } from './geometry.js'
import { encodeHeader, parseHeader } from './header.js'
import { planVhd } from './writer.js'

const plan = planVhd({ size: 8 * 1024 * 1024, blockIndexes: [0, 2], timestamp: 1234 })

describe('footer', () => {
  it('round-trips through encode and parse', () => {
    const bytes = encodeFooter(plan.footer)
    const { value, checksumOk } = parseFooter(bytes)
    expect(checksumOk).toBe(true)
    expect({ ...value, checksum: 0 }).toEqual({ ...plan.footer, checksum: 0 })
  })

  it('rejects a wrong checksum, or reports it when asked not to verify', () => {
    const bytes = encodeFooter(plan.footer)
    bytes[100]! ^= 1
    expect(() => parseFooter(bytes)).toThrow(expect.objectContaining({ code: 'VHD_BAD_CHECKSUM' }))
    expect(parseFooter(bytes, 'f', false).checksumOk).toBe(false)
  })

  it('rejects a disk larger than 2040 GiB even with a valid checksum', () => {
    const bytes = encodeFooter(plan.footer)
    view(bytes).setBigUint64(F_CURRENT_SIZE, BigInt(MAX_DISK_SIZE + 512))
    view(bytes).setUint32(F_CHECKSUM, vhdChecksum(bytes, F_CHECKSUM))
    expect(() => parseFooter(bytes)).toThrow(expect.objectContaining({ code: 'VHD_SIZE_LIMIT' }))
  })

  it('rejects anything without the cookie', () => {
    expect(() => parseFooter(new Uint8Array(512))).toThrow(
      expect.objectContaining({ code: 'VHD_BAD_COOKIE' }),
    )
  })
})

describe('header', () => {
  it('round-trips, including parent name and locators', () => {
    const header = {
      ...plan.header,
      parentUnicodeName: 'parent disk é.vhd',
      parentLocators: [{ platform: 'MacX', dataSpace: 512, dataLength: 20, dataOffset: 1536 }],
    }
    const { value } = parseHeader(encodeHeader(header), plan.footer.currentSize)
    expect({ ...value, checksum: 0 }).toEqual({ ...header, checksum: 0 })
  })

  it('rejects block sizes that are not a power of two in range', () => {
    for (const blockSize of [0, 3 * 1024 * 1024, 4096, 2 ** 31]) {
      const bytes = encodeHeader(plan.header)
      view(bytes).setUint32(H_BLOCK_SIZE, blockSize)
      view(bytes).setUint32(H_CHECKSUM, vhdChecksum(bytes, H_CHECKSUM))
      expect(() => parseHeader(bytes, 0)).toThrow(expect.objectContaining({ code: 'VHD_SIZE_LIMIT' }))
    }
  })

  it('rejects a BAT too small for the disk', () => {
    expect(() => parseHeader(encodeHeader(plan.header), 64 * 1024 * 1024)).toThrow(
      expect.objectContaining({ code: 'VHD_INVALID' }),
    )
  })
})

describe('geometry', () => {
  it('follows the specification (64 MiB -> 963/8/17, what vhd-util computes)', () => {
    expect(chsGeometry(64 * 1024 * 1024)).toEqual({ cylinders: 963, heads: 8, sectorsPerTrack: 17 })
    expect(chsGeometry(4 * 1024 ** 4)).toEqual(MAX_GEOMETRY)
  })

  it('keeps CHS when it covers the disk exactly, else stores the maximum so that qemu uses the size', () => {
    const exact = geometryBytes({ cylinders: 963, heads: 8, sectorsPerTrack: 17 })
    expect(geometryFor(exact)).toEqual({ cylinders: 963, heads: 8, sectorsPerTrack: 17 })
    expect(geometryFor(64 * 1024 * 1024)).toEqual(MAX_GEOMETRY)
  })
})
