// XVAs as XAPI exports them: a tar of ova.xml (an XML-RPC struct of the VM's objects, references
// rewritten to 'Ref:n'), then each disk in 1 MiB entries `Ref:n/NNNNNNNN` (all-zero ones left out but
// the first and the last), each followed by its checksum entry; optionally gzip- or zstd-compressed.
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import xxhash from 'xxhash-wasm'
import { compress as zstd } from 'zstd-napi'
import { encodeXmlRpcValue, type XmlRpcValue } from '../../xapi/index.js'

const CHUNK = 1024 * 1024

export interface XvaSpec {
  readonly vmName: string
  readonly disks: readonly { readonly name: string; readonly bytes: Buffer }[]
  readonly checksums?: 'xxhash' | 'sha1'
  readonly compression?: 'none' | 'gzip' | 'zstd'
}

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512)
  const put = (text: string, at: number): void => void h.write(text, at, 'latin1')
  put(name, 0)
  put('0000644\0', 100)
  put('0000000\0', 108)
  put('0000000\0', 116)
  put(`${size.toString(8).padStart(11, '0')}\0`, 124)
  put('00000000000\0', 136)
  h.fill(0x20, 148, 156)
  h[156] = 0x30
  put('ustar\0', 257)
  put('00', 263)
  let sum = 0
  for (const b of h) sum += b
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return h
}

function entry(name: string, data: Buffer): Buffer[] {
  return [tarHeader(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512)]
}

function ova(spec: XvaSpec): Buffer {
  const n = spec.disks.length
  const objects: XmlRpcValue[] = [
    {
      class: 'VM',
      id: 'Ref:0',
      snapshot: {
        uuid: '6b0d1f3e-0000-4000-8000-000000000001',
        name_label: spec.vmName,
        name_description: '',
        power_state: 'Halted',
        memory_static_max: '1073741824',
        VCPUs_max: '1',
        VBDs: spec.disks.map((_, i) => `Ref:${1 + i}`),
        VIFs: [],
        other_config: {},
      },
    },
    ...spec.disks.map((_, i) => ({
      class: 'VBD',
      id: `Ref:${1 + i}`,
      snapshot: {
        VM: 'Ref:0',
        VDI: `Ref:${1 + n + i}`,
        userdevice: String(i),
        bootable: i === 0,
        mode: 'RW',
        type: 'Disk',
        unpluggable: true,
        other_config: {},
      },
    })),
    ...spec.disks.map((d, i) => ({
      class: 'VDI',
      id: `Ref:${1 + n + i}`,
      snapshot: {
        uuid: `6b0d1f3e-0000-4000-8000-00000000010${i}`,
        name_label: d.name,
        name_description: '',
        virtual_size: String(d.bytes.length),
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: {},
        tags: [],
      },
    })),
  ]
  return Buffer.from(encodeXmlRpcValue({ version: { hostname: 'test', export_vsn: 2 }, objects }))
}

export async function buildXva(spec: XvaSpec): Promise<Buffer> {
  const { h64Raw } = await xxhash()
  const parts: Buffer[] = [...entry('ova.xml', ova(spec))]
  const n = spec.disks.length
  const ids = spec.disks.map((_, i) => `Ref:${1 + n + i}`)
  const order = ids.map((id, i) => ({ id, i })).sort((a, b) => (a.id < b.id ? -1 : 1))
  for (const { id, i } of order) {
    const bytes = spec.disks[i]!.bytes
    const last = Math.ceil(bytes.length / CHUNK) - 1
    for (let c = 0; c <= last; c++) {
      const data = bytes.subarray(c * CHUNK, Math.min(bytes.length, (c + 1) * CHUNK))
      if (c !== 0 && c !== last && data.every((b) => b === 0)) continue
      const name = `${id}/${String(c).padStart(8, '0')}`
      parts.push(...entry(name, data))
      if (spec.checksums === 'sha1')
        parts.push(...entry(`${name}.checksum`, Buffer.from(createHash('sha1').update(data).digest('hex'))))
      else
        parts.push(
          ...entry(`${name}.xxhash`, Buffer.from(h64Raw(data).toString(16).toUpperCase().padStart(16, '0'))),
        )
    }
  }
  parts.push(Buffer.alloc(1024))
  const tar = Buffer.concat(parts)
  if (spec.compression === 'gzip') return gzipSync(tar)
  if (spec.compression === 'zstd') return zstd(tar)
  return tar
}

/** XO's `<xva>.checksum`: '$1$$' and the md5 of the file, on clear remotes. */
export const xvaChecksum = (xva: Uint8Array): Buffer =>
  Buffer.from(`$1$$${createHash('md5').update(xva).digest('hex')}`)
