import { rawToVhd, type FromRawResult } from '@strata/core/vhd'
import type { Command } from '../command.js'

export const vhdFromRaw: Command<FromRawResult & { out: string }> = {
  path: ['vhd', 'from-raw'],
  usage: 'vhd from-raw RAW OUT [--parent FILE]',
  summary: 'Write a raw image as a dynamic VHD, or as a differencing VHD over --parent',
  options: { parent: { type: 'string' } },
  positionals: 2,
  async run({ positionals, values }, { signal }) {
    const [raw, out] = positionals as [string, string]
    const parentPath = typeof values.parent === 'string' ? values.parent : undefined
    return { out, ...(await rawToVhd(raw, out, { parentPath, signal })) }
  },
  format(r) {
    const kind = r.parent === undefined ? 'dynamic' : `differencing over ${r.parent.name} (${r.parent.uuid})`
    return `${r.out}: ${kind} VHD, ${r.blocks} of ${r.blockCount} blocks, ${r.length} bytes, uuid ${r.uuid}`
  },
}
