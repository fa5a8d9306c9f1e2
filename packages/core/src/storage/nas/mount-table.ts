// What is mounted where, from /proc/self/mountinfo (see proc(5)): one line per mount,
//   36 35 98:0 /root /mnt/point rw,noatime shared:1 - cifs //host/share rw,vers=3.0,...
// with spaces, tabs, newlines and backslashes in paths written as octal escapes (\040).
import { readFile } from 'node:fs/promises'

export interface MountEntry {
  readonly mountPoint: string
  readonly fsType: string
  readonly source: string
}

export function parseMountTable(text: string): MountEntry[] {
  const entries: MountEntry[] = []
  for (const line of text.split('\n')) {
    const fields = line.split(' ')
    const dash = fields.indexOf('-', 6)
    if (fields.length < 10 || dash < 0 || fields[4] === undefined) continue
    entries.push({
      mountPoint: unescape(fields[4]),
      fsType: fields[dash + 1] ?? '',
      source: unescape(fields[dash + 2] ?? ''),
    })
  }
  return entries
}

/** What is mounted at `path` now: the last of stacked mounts, which is the one seen. */
export function mountAt(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  return entries.findLast((entry) => entry.mountPoint === path)
}

export function readMountTable(): Promise<string> {
  return readFile('/proc/self/mountinfo', 'utf8')
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}
