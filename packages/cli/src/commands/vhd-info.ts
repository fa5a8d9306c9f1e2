import { describeVhd, openVhdFile, type VhdInfo } from '@strata/core/vhd'
import type { Command } from '../command.js'

export const vhdInfo: Command<VhdInfo & { file: string }> = {
  path: ['vhd', 'info'],
  usage: 'vhd info FILE',
  summary: 'Describe a VHD file: type, sizes, blocks, parent, checksums',
  positionals: 1,
  async run({ positionals }, { signal }) {
    const file = positionals[0]!
    // Not strict: a bad checksum is something to report here, not a reason to refuse.
    const disk = await openVhdFile(file, { strict: false, signal })
    try {
      return { file, ...(await describeVhd(disk, signal)) }
    } finally {
      await disk.close()
    }
  },
  format(r) {
    const ok = (v: boolean | undefined): string => (v === undefined ? 'n/a' : v ? 'ok' : 'BAD')
    const lines = [
      `${r.file}: ${r.type} VHD`,
      `  virtual size  ${r.size} bytes (${mib(r.size)})`,
      `  file size     ${r.fileSize} bytes (${mib(r.fileSize)})`,
      r.blockSize === undefined
        ? `  blocks        none (fixed disk)`
        : `  blocks        ${r.allocatedBlocks} of ${r.blocks} allocated, ${mib(r.blockSize)} each`,
      `  uuid          ${r.uuid}`,
      `  created       ${r.timestamp} by '${r.creator}'`,
    ]
    if (r.parent !== undefined) {
      lines.push(`  parent        ${r.parent.uuid} '${r.parent.name}'`)
      for (const l of r.parent.locators) lines.push(`  locator       ${l}`)
    }
    const c = r.checksums
    lines.push(
      `  checksums     footer ${ok(c.footer)}, footer copy ${ok(c.footerCopy)}, header ${ok(c.header)}` +
        (c.footersMatch === false ? ', footers DIFFER' : ''),
    )
    return lines.join('\n')
  },
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
