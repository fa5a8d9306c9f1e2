// The lab's memory images: what VM.suspend and VM.checkpoint write into a suspend VDI and what
// VM.resume reads back. A real image is the guest's RAM in xenopsd's format; the lab's is a 4 KiB
// header (a magic line, then one JSON line: whose memory, whether its guest had booted, the vm-data
// keys its guest had written) followed by random bytes standing for the RAM, so that every image is
// unique and a copy can be told from a fresh one by its SHA-256. Bytes in, values out.
import { createHash, randomBytes } from 'node:crypto'

const MAGIC = 'STRATA-LAB-MEMORY-IMAGE 1\n'
export const MEMORY_HEADER_BYTES = 4096

export interface MemoryHeader {
  /** uuid of the VM whose memory this is. */
  vm: string
  name: string
  /** Whether its guest had booted (reported guest metrics): a resumed guest reports again. */
  booted: boolean
  /** The vm-data keys its guest had written (written again by the resumed guest). */
  vmData: Record<string, string>
  /** The os_version its guest agent had reported. */
  os: Record<string, string>
  taken: string
}

/** A complete image of `size` bytes (at least the header; a multiple of 512). */
export function makeMemoryImage(header: MemoryHeader, size: number): Buffer {
  const image = randomBytes(Math.max(MEMORY_HEADER_BYTES, Math.ceil(size / 512) * 512))
  const text = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`)
  if (text.length > MEMORY_HEADER_BYTES) throw new RangeError('memory image header too large')
  image.fill(0, 0, MEMORY_HEADER_BYTES)
  text.copy(image, 0)
  return image
}

/** The header of an image, or undefined when the bytes are not a lab memory image. */
export function readMemoryHeader(head: Uint8Array): MemoryHeader | undefined {
  const text = Buffer.from(head.subarray(0, MEMORY_HEADER_BYTES)).toString('utf8')
  if (!text.startsWith(MAGIC)) return undefined
  const line = text.slice(MAGIC.length, text.indexOf('\n', MAGIC.length))
  try {
    const h = JSON.parse(line) as Partial<MemoryHeader>
    if (typeof h.vm !== 'string' || typeof h.booted !== 'boolean' || typeof h.vmData !== 'object')
      return undefined
    return {
      vm: h.vm,
      name: String(h.name ?? ''),
      booted: h.booted,
      vmData: strings(h.vmData),
      os: strings(h.os),
      taken: String(h.taken ?? ''),
    }
  } catch {
    return undefined
  }
}

function strings(map: unknown): Record<string, string> {
  if (typeof map !== 'object' || map === null) return {}
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)]))
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
