// What a task's facts (its data) show in the task tree: sizes first, formatted, then the other plain facts.
// A restore's rate counts the bytes of the disk (size), so what it really wrote and the zeros it skipped
// (holes, absent VHD blocks) are shown apart: "size 32 MiB · data written 2 KiB · zeros skipped 32 MiB".
import { formatBytes } from './format'

/** The sizes shown on a task's line, in this order, with their labels. */
const SIZE_LABELS = {
  bytesRead: 'read',
  bytesStored: 'stored',
  copiedBytes: 'copied',
  size: 'size',
  dataBytes: 'data written',
  zeroBytes: 'zeros skipped',
  // A differential restore: the disk checked, what was read of it (none by CBT), what went back.
  comparedBytes: 'compared',
  readBytes: 'read to compare',
  differingBytes: 'differing',
  rewrittenBytes: 'rewritten',
  sentBytes: 'sent',
} as const

/** Facts named elsewhere: in the task's title, or the run page's heading (its id; the job's, internal). */
const HIDDEN = new Set(['name', 'name_label', 'runId', 'jobId'])
/** Facts holding the server's ids of pools and repositories, shown by name. */
const NAMED = new Set(['pool', 'repository', 'target'])

export interface SizeFact {
  key: keyof typeof SIZE_LABELS
  label: string
  value: string
}

export function sizeFacts(data: Record<string, unknown>): SizeFact[] {
  return (Object.keys(SIZE_LABELS) as (keyof typeof SIZE_LABELS)[])
    .filter((key) => typeof data[key] === 'number')
    .map((key) => ({ key, label: SIZE_LABELS[key], value: formatBytes(data[key] as number) }))
}

/** The other facts a task carries as plain values (strings, numbers, booleans), ids by their names. */
export function otherFacts(
  data: Record<string, unknown>,
  names: Record<string, string> = {},
): [string, unknown][] {
  return Object.entries(data)
    .filter(
      ([key, value]) =>
        !(key in SIZE_LABELS) && !HIDDEN.has(key) && ['string', 'number', 'boolean'].includes(typeof value),
    )
    .map(([key, value]) => [key, NAMED.has(key) ? (names[String(value)] ?? value) : value])
}
