// Byte helpers shared by format and storage code.

const ZEROS = new Uint8Array(4 * 1024 * 1024)

/** True when every byte is zero. memcmp against a fixed zero buffer: fast, and memory stays bounded. */
export function isZero(data: Uint8Array): boolean {
  for (let offset = 0; offset < data.length; offset += ZEROS.length) {
    const part = data.subarray(offset, Math.min(data.length, offset + ZEROS.length))
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false
  }
  return true
}
