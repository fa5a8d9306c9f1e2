// Shared plumbing of the `strata pool` commands: a session with the pool for the time of one command
// (through connectXapi, the one way every command reaches a pool), and aligned columns for listings.
import type { XapiClient } from '@strata/core/xapi'
import type { ParsedArgs } from '../command.js'
import { connectXapi } from './backup-common.js'

export async function withPool<T>(
  args: ParsedArgs,
  signal: AbortSignal,
  fn: (xapi: XapiClient) => Promise<T>,
): Promise<T> {
  const xapi = await connectXapi(args, signal)
  try {
    return await fn(xapi)
  } finally {
    await xapi.close()
  }
}

/** Rows under a header, each column as wide as its widest cell. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}
