// The XO format's pure pieces: paths inside a remote, file dates, the VhdDirectory bat bits and chunk
// filters, tar headers, metadata fields, and the order of a backup's disks.
import { describe, expect, it } from 'vitest'
import { deltaDisks, parseMetadata } from './metadata.js'
import { parseFileDate, resolveFrom } from './paths.js'
import { parseTarHeader } from './tar.js'
import { batHas, blockPath, checkBatBits, parseChunkFilters } from './vhd-directory.js'

describe('paths in a remote', () => {
  it("resolve against the holder's directory, from the root with a leading slash, never above it", () => {
    const alias = 'xo-vm-backups/vm/vdis/j/v/20250101T000000Z.alias.vhd'
    expect(resolveFrom(alias, 'data/20250101T000000Z.vhd', 'a')).toBe(
      'xo-vm-backups/vm/vdis/j/v/data/20250101T000000Z.vhd',
    )
    expect(resolveFrom(alias, './../v/x.vhd', 'a')).toBe('xo-vm-backups/vm/vdis/j/v/x.vhd')
    expect(resolveFrom(alias, '/xo-vm-backups/other.vhd', 'a')).toBe('xo-vm-backups/other.vhd')
    expect(() => resolveFrom(alias, '../../../../../../x', 'a')).toThrow(/leaves the remote/)
    expect(() => resolveFrom(alias, '/', 'a')).toThrow(/root/)
    expect(() => resolveFrom(alias, 'a\\b', 'a')).toThrow(/not a path/)
    expect(() => resolveFrom(alias, '', 'a')).toThrow(/not a path/)
  })

  it('dates XO file names in UTC, and only those', () => {
    expect(parseFileDate('20250101T010203Z')).toBe(Date.UTC(2025, 0, 1, 1, 2, 3))
    expect(parseFileDate('20250101T010203')).toBeUndefined()
    expect(parseFileDate('cache.json')).toBeUndefined()
  })
})

describe('VhdDirectory pieces', () => {
  it('reads the bat most significant bit first, and refuses a short one', () => {
    const bits = (bytes: Uint8Array, count: number) =>
      Array.from({ length: count }, (_, i) => (batHas(checkBatBits(bytes, count, 'd'), i) ? 1 : 0))
    expect(bits(Uint8Array.of(0b10100000, 0b00000001), 16)).toEqual([
      1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ])
    expect(bits(Uint8Array.of(0xff, 0xff), 3)).toEqual([1, 1, 1])
    expect(() => checkBatBits(Uint8Array.of(0xff), 9, 'd')).toThrow(/2 are needed/)
  })

  it('names block files per thousand', () => {
    expect(blockPath('d', 0)).toBe('d/blocks/0/0')
    expect(blockPath('d', 1999)).toBe('d/blocks/1/999')
  })

  it('knows gzip and brotli, and nothing else', () => {
    expect(parseChunkFilters(undefined, 'd')).toEqual([])
    expect(parseChunkFilters(Buffer.from('["brotli"]'), 'd')).toEqual(['brotli'])
    expect(() => parseChunkFilters(Buffer.from('["zstd"]'), 'd')).toThrow(/unknown chunk filter/)
    expect(() => parseChunkFilters(Buffer.from('{"a":1}'), 'd')).toThrow(/not a list/)
  })
})

describe('tar headers', () => {
  const header = (name: string, size: number): Uint8Array => {
    const h = Buffer.alloc(512)
    h.write(name, 0, 'latin1')
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
    h.fill(0x20, 148, 156)
    h[156] = 0x30
    h.write('ustar\0', 257, 'latin1')
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    return h
  }

  it('decodes name and size, ends at a zero block, and checks the checksum', () => {
    expect(parseTarHeader(header('Ref:3/00000042', 1048576), 'x')).toEqual({
      name: 'Ref:3/00000042',
      size: 1048576,
      type: '0',
    })
    expect(parseTarHeader(new Uint8Array(512), 'x')).toBeUndefined()
    const bad = header('ova.xml', 10)
    bad[0] = 0x4f
    expect(() => parseTarHeader(bad, 'x')).toThrow(/checksum/)
  })
})

describe('backup metadata', () => {
  const meta = {
    mode: 'delta',
    jobId: 'j',
    timestamp: 1735693323000,
    vm: { name_label: 'vm' },
    vhds: {
      'OpaqueRef:b': 'vdis/j/b/x.vhd',
      'OpaqueRef:a': 'vdis/j/a/x.vhd',
      'OpaqueRef:m': 'vdis/j/m/x.vhd',
    },
    vdis: {},
    vbds: {
      'OpaqueRef:v1': { VDI: 'OpaqueRef:a', userdevice: '10' },
      'OpaqueRef:v2': { VDI: 'OpaqueRef:b', userdevice: '2' },
    },
  }

  it('orders disks by userdevice, those without a VBD last', () => {
    const parsed = parseMetadata(Buffer.from(JSON.stringify(meta)), 'f.json')
    expect(parsed.mode === 'delta' && deltaDisks(parsed).map((d) => d.ref)).toEqual([
      'OpaqueRef:b',
      'OpaqueRef:a',
      'OpaqueRef:m',
    ])
  })

  it('requires a job, a date in ms and a VM record', () => {
    for (const [field, value] of [
      ['jobId', 3],
      ['timestamp', -1],
      ['vm', 'vm'],
    ] as const) {
      expect(() => parseMetadata(Buffer.from(JSON.stringify({ ...meta, [field]: value })), 'f.json')).toThrow(
        /f\.json/,
      )
    }
  })
})
