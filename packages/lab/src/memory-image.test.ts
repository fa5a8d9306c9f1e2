import { describe, expect, it } from 'vitest'
import { MEMORY_HEADER_BYTES, makeMemoryImage, readMemoryHeader, sha256 } from './memory-image.js'

describe('lab memory images', () => {
  const header = {
    vm: 'uuid-1',
    name: 'web',
    booted: true,
    vmData: { k: 'v' },
    os: { name: 'Debian' },
    taken: 't',
  }

  it('carries a readable header and unique random contents', () => {
    const a = makeMemoryImage(header, 1024 * 1024)
    const b = makeMemoryImage(header, 1024 * 1024)
    expect(a.length).toBe(1024 * 1024)
    expect(readMemoryHeader(a)).toEqual(header)
    expect(sha256(a)).not.toBe(sha256(b))
    expect(makeMemoryImage(header, 100).length).toBe(MEMORY_HEADER_BYTES)
  })

  it('is not fooled by zeros or a damaged header', () => {
    const image = makeMemoryImage(header, 8192)
    expect(readMemoryHeader(Buffer.alloc(8192))).toBeUndefined()
    const damaged = Buffer.from(image)
    damaged[40] = 0x7b // a brace where the JSON starts: not JSON any more
    damaged[41] = 0x7b
    expect(readMemoryHeader(damaged)).toBeUndefined()
  })
})
