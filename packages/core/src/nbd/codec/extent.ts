// Extents: what NBD_CMD_BLOCK_STATUS describes, per metadata context.

/** A run of bytes that share the same status flags in one metadata context. */
export interface Extent {
  readonly offset: number
  readonly length: number
  /** Context-specific: for base:allocation STATE_HOLE (1) | STATE_ZERO (2); for dirty bitmaps STATE_DIRTY (1). */
  readonly flags: number
}

/** Joins neighbouring extents that carry the same flags (servers are free to split them). */
export function mergeExtents(extents: readonly Extent[]): Extent[] {
  const out: Extent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    if (last !== undefined && last.flags === e.flags && last.offset + last.length === e.offset) {
      out[out.length - 1] = { offset: last.offset, length: last.length + e.length, flags: e.flags }
    } else out.push(e)
  }
  return out
}
