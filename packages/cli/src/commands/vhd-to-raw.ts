import { vhdToRaw, type ToRawResult } from '@strata/core/vhd'
import type { Command } from '../command.js'

export const vhdToRawCommand: Command<ToRawResult & { out: string }> = {
  path: ['vhd', 'to-raw'],
  usage: 'vhd to-raw FILE OUT',
  summary: 'Write a VHD (with its parents, if differencing) to a sparse raw file',
  positionals: 2,
  async run({ positionals }, { signal }) {
    const [file, out] = positionals as [string, string]
    return { out, ...(await vhdToRaw(file, out, { signal })) }
  },
  format: (r) =>
    `${r.out}: ${r.size} bytes, ${r.blocksWritten} non-zero blocks written, from ${r.chain.join(' <- ')}`,
}
